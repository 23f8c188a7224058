"""The Dash app of the energy managers: pages Live, Buildings, Year, Grid, Scenarios and Calibration behind a login.

German by default, English selectable in the header (:mod:`dashboard.i18n`: the switch sets a
cookie and reloads the page); the header names the user and the role (:mod:`dashboard.auth`).

:func:`create_app` builds one app per call (no module-level app, no global callbacks):
pages are registered with Dash Pages and their callbacks attached to this app only. The
data paths and the data cache live in the Flask config of the app's server, so callbacks
read them without globals. ``/healthz`` is public; everything else, the downloads included,
needs the login (:mod:`dashboard.auth`), except the public page for citizens at ``/public/``
(:mod:`dashboard.public`: a separate app in front of this one, aggregates only).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import dash
import pandas as pd
from dash import Dash, Input, Output, dcc, html
from flask import Flask, Response, abort, jsonify, redirect, request, send_file
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard import pages
from dashboard.api import install_api
from dashboard.auth import PUBLIC_ROUTES, Account, current_user, install_login, load_accounts, password_checker
from dashboard.data import DashboardConfig, DataCache, display_timezone, list_results, load_snapshot
from dashboard.i18n import COOKIE, LANGUAGES, SWITCH_ROUTE, current_language, t
from dashboard.pages.common import CACHE_KEY, CONFIG_KEY
from dashboard.pages.scenarios import DOWNLOADS
from dashboard.public import mount_public_page
from dashboard.throttle import LoginThrottle
from scenarios.ensemble_results import list_ensembles
from scenarios.results import MEMBERS_CSV, RESULT_NC
from twin.core.live_parts import Where

__all__ = ["DEFAULT_CALIBRATION", "DEFAULT_RESULTS", "DEFAULT_STORE", "TITLE", "create_app", "nav_classes"]

TITLE: Final[str] = "Beucha district twin"
#: Default folders under the data root.
DEFAULT_STORE: Final[str] = "live"
DEFAULT_RESULTS: Final[str] = "scenarios"
DEFAULT_CALIBRATION: Final[str] = "calibration.yaml"
#: How long a browser keeps its language. [s]
_COOKIE_MAX_AGE_S: Final[int] = 365 * 86_400


def create_app(
    data_root: str | Path,
    store_dir: str | Path | None = None,
    results_dir: str | Path | None = None,
    credentials: Mapping[str, str | Account] | None = None,
    *,
    refresh_s: float = 3.0,
    throttle: LoginThrottle | None = None,
    households: Mapping[str, int] | None = None,
    calibration: str | Path | None = None,
) -> Dash:
    """Build the dashboard.

    Parameters
    ----------
    data_root : str or Path
        The twin's data root.
    store_dir : str or Path, optional
        The live twin's store; default ``DATA_ROOT/live``.
    results_dir : str or Path, optional
        Folder of scenario result folders; default ``DATA_ROOT/scenarios``.
    credentials : mapping of str to str or Account, optional
        User -> password hash (or plain password) of an energy manager, or an
        :class:`~dashboard.auth.Account` with its role; default from the environment or
        ``DATA_ROOT/dashboard-users.json`` (:func:`dashboard.auth.load_accounts`).
    refresh_s : float
        Update interval of the live pages. [s]
    throttle : LoginThrottle, optional
        The failed-login limit per client address; default a new
        :class:`~dashboard.throttle.LoginThrottle` shared by the workers forked from this app.
    households : mapping of str to int, optional
        Households per building for the public page (:mod:`dashboard.public`, no login); default
        counted from the live snapshot's household meters.
    calibration : str or Path, optional
        The calibration file of the Calibration page (:mod:`dashboard.pages.calibration`);
        default ``DATA_ROOT/calibration.yaml``.

    Raises
    ------
    ConfigError
        When no login is configured.
    """
    config = _config(data_root, store_dir, results_dir, refresh_s, calibration)
    accounts = _accounts(credentials) if credentials is not None else load_accounts(config.data_root)
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        compress=True,
        title=TITLE,
        update_title="",
        suppress_callback_exceptions=True,
        assets_folder=str(Path(__file__).with_name("assets")),
    )
    server = app.server
    server.config[CONFIG_KEY] = config
    server.config[CACHE_KEY] = DataCache()
    _register_pages(app)
    _register_nav(app)
    app.layout = functools.partial(_layout, config)  # per page load: the time zone of the latest snapshot
    _add_routes(server, config, households)
    # Dash registers the bundles it may serve while it renders the index page: a gunicorn
    # worker that never rendered it refuses them ("dash" is not a registered library) when
    # the browser's requests spread over workers. Render it once here, before workers fork.
    with server.test_request_context("/"):
        app.index()
    install_login(
        server,
        password_checker({name: account.password for name, account in accounts.items()}),
        throttle if throttle is not None else LoginThrottle(),
        callbacks=lambda: app.callback_map,
        public_routes=list(PUBLIC_ROUTES),
        roles={name: account.role for name, account in accounts.items()},
    )
    return app


def _config(
    data_root: str | Path,
    store_dir: str | Path | None,
    results_dir: str | Path | None,
    refresh_s: float,
    calibration: str | Path | None,
) -> DashboardConfig:
    """Where the dashboard reads its data: the given paths or their defaults under the data root."""
    root = Path(data_root)
    return DashboardConfig(
        data_root=root,
        store_dir=Path(store_dir) if store_dir is not None else root / DEFAULT_STORE,
        results_dir=Path(results_dir) if results_dir is not None else root / DEFAULT_RESULTS,
        refresh_s=refresh_s,
        calibration_file=Path(calibration) if calibration is not None else root / DEFAULT_CALIBRATION,
    )


def _accounts(credentials: Mapping[str, str | Account]) -> dict[str, Account]:
    """Accounts from user -> password hash or :class:`~dashboard.auth.Account` (a bare hash: an energy manager)."""
    return {name: value if isinstance(value, Account) else Account(value) for name, value in credentials.items()}


def _add_routes(server: Flask, config: DashboardConfig, households: Mapping[str, int] | None) -> None:
    """The routes beside the pages: health, language switch, result downloads, the API and the public page."""
    server.add_url_rule("/healthz", "healthz", lambda: _healthz(config))
    server.add_url_rule(SWITCH_ROUTE, "language", _switch_language)
    server.add_url_rule("/download/<name>/<file>", "download", lambda name, file: _download(config, name, file))
    install_api(server, config)
    mount_public_page(server, config, households=households, cache=server.config[CACHE_KEY])


def _register_pages(app: Dash) -> None:
    """Register every page of :data:`dashboard.pages.PAGES` and its callbacks, in menu order."""
    for order, page in enumerate(pages.PAGES):
        dash.register_page(
            page.__name__,
            path=page.PATH,
            name=page.NAME,
            title=functools.partial(_page_title, page.NAME),
            layout=page.layout,
            order=order,
        )
        page.register_callbacks(app)


def _page_title(name: str) -> str:
    """The browser title of a page in the request's language."""
    return f"{t(f'nav.{name.lower()}')} - {t('app.title')}"


def nav_classes(pathname: str | None) -> list[str]:
    """The class of each menu link (:data:`dashboard.pages.PAGES` order): ``active`` for the page shown."""
    path = (pathname or "/").rstrip("/") or "/"
    return ["active" if path == page.PATH else "" for page in pages.PAGES]


def _register_nav(app: Dash) -> None:
    """Mark the menu link of the page shown (Dash Pages' own location drives it)."""

    @app.callback(
        [Output(f"nav-{page.NAME.lower()}", "className") for page in pages.PAGES],
        Input("_pages_location", "pathname"),
    )
    def _mark(pathname: str | None) -> list[str]:
        return nav_classes(pathname)


def _layout(config: DashboardConfig) -> html.Div:
    """The frame around every page: header with the menu, the time zone shown, user, language switch, page container."""
    lang = current_language()
    user, role = current_user()
    return html.Div(
        [
            html.Header(
                [
                    html.Span(t("app.title", lang), className="brand"),
                    html.Nav(
                        [
                            dcc.Link(t(f"nav.{page.NAME.lower()}", lang), href=page.PATH, id=f"nav-{page.NAME.lower()}")
                            for page in pages.PAGES
                        ]
                    ),
                    html.Span(
                        t("app.times_in", lang, tz=display_timezone(load_snapshot(config.store_dir))), className="note"
                    ),
                    html.Span(
                        t("app.user", lang, user=user, role=t(f"role.{role}", lang)),
                        id="user-role",
                        className=f"note role-{role}",
                    ),
                    html.Span(
                        [
                            html.A(
                                code.upper(),
                                href=SWITCH_ROUTE.replace("<lang>", code),
                                id=f"lang-{code}",
                                className="lang active" if code == lang else "lang",
                                title=t("app.language", lang),
                            )
                            for code in LANGUAGES
                        ],
                        id="lang-switch",
                        className="lang-switch",
                    ),
                ]
            ),
            html.Main(dash.page_container),
        ],
        lang=lang,
    )


def _switch_language(lang: str) -> WerkzeugResponse:
    """Remember the language in a cookie and go back to the page the switch was clicked on."""
    if lang not in LANGUAGES:
        abort(404)
    back = urlsplit(request.referrer or "")
    same_host = not back.netloc or back.netloc == request.host
    target = (back.path or "/") + (f"?{back.query}" if back.query else "") if same_host else "/"
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    response = redirect(target, code=303)
    response.set_cookie(
        COOKIE, lang, max_age=_COOKIE_MAX_AGE_S, samesite="Lax", httponly=True, secure=request.is_secure
    )
    return response


def _healthz(config: DashboardConfig) -> Response:
    snapshot = load_snapshot(config.store_dir)
    store = snapshot.store_status if snapshot is not None else None
    degraded = store is not None and store.ok is False
    failing = {"store_error": store.error, "store_pending_rows": store.pending_rows} if store is not None else {}
    return jsonify(
        status="degraded" if degraded else "ok",
        snapshot=snapshot is not None,
        sim_time_utc=Where.iso(snapshot.sim_time_utc) if snapshot is not None else None,
        timeline_start_utc=Where.iso(snapshot.timeline_start_utc) if snapshot is not None else None,
        results=len(list_results(config.results_dir)),
        **(failing if degraded else {}),
    )


def _download_members(config: DashboardConfig, name: str) -> Response:
    """An ensemble's member table (``NAME-ensemble/members.csv``); 404 for anything else."""
    found = next((e for e in list_ensembles(config.results_dir) if e.name == name), None)
    if found is None or not found.members_path.is_file():
        abort(404)
    return send_file(found.members_path, mimetype="text/csv", as_attachment=True, download_name=f"{name}-{MEMBERS_CSV}")


def _download(config: DashboardConfig, name: str, file: str) -> Response:
    """A result file, or a CSV made from it; 404 for anything not offered."""
    if file == MEMBERS_CSV:
        return _download_members(config, name)
    result = next((r for r in list_results(config.results_dir) if r.name == name), None)
    if result is None or file not in DOWNLOADS:
        abort(404)
    if file == RESULT_NC:
        if not result.has_dataset():
            abort(404)
        path = result.dataset_path
        return send_file(path, mimetype="application/x-netcdf", as_attachment=True, download_name=f"{name}.nc")
    if file == "kpis.csv":
        kpis = result.kpis()
        frame = pd.DataFrame({"kpi": list(kpis), "value": list(kpis.values())})
    else:
        if not result.has_dataset():
            abort(404)
        frame = result.time_series()
    buffer = io.StringIO()
    frame.to_csv(buffer, index=file != "kpis.csv")
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}-{file}"'},
    )
