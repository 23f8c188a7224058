"""Plotly figures as HTML without plotly's Python package: the figure JSON plotly.js draws.

A figure is the dict plotly.js takes (``{"data": [traces], "layout": {...}}``); :func:`figure_div`
writes it as plotly's ``to_html(fig, full_html=False, include_plotlyjs=False)`` does, with
plotly's default template (``plotly``) and numeric arrays as plotly.js typed arrays, so a page
looks as one built through ``plotly.graph_objects``. Importing plotly and validating the
figures costs a scenario run more than half a second; the page needs neither.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import json
import math
import uuid
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from scenarios.results import PLOTLY_JS

__all__ = ["Figure", "dates", "figure", "figure_div", "hline", "plotly_min_js", "typed_array"]

#: A plotly.js figure: ``{"data": [trace, ...], "layout": {...}}``.
Figure = dict[str, Any]

#: plotly.js typed-array codes of the numpy types a figure uses.
_TYPED: Final[dict[str, str]] = {"float64": "f8", "float32": "f4"}


def figure(traces: list[dict[str, Any]], title: str, **layout: Any) -> Figure:
    """A figure of ``traces`` titled ``title``; ``layout`` as plotly.js takes it (``yaxis={"title": {...}}``)."""
    first = {key: layout.pop(key) for key in ("shapes", "annotations") if key in layout}  # in plotly's order
    return {"data": traces, "layout": {**first, "title": {"text": title}, **layout}}


def hline(y: float, text: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The dashed line across the plot at ``y`` and its label at the right (plotly's ``add_hline``)."""
    shape = {"line": {"dash": "dash"}, "type": "line", "x0": 0, "x1": 1, "xref": "x domain", "y0": y, "y1": y}
    shape["yref"] = "y"
    if text is None:
        return shape, []
    label = {"showarrow": False, "text": text, "x": 1, "xanchor": "right", "xref": "x domain", "y": y}
    return shape, [{**label, "yanchor": "bottom", "yref": "y"}]


def typed_array(values: npt.ArrayLike) -> dict[str, str] | list[Any]:
    """Floats as a plotly.js typed array (base64 of the array's bytes), as plotly writes numpy arrays; else a list."""
    array = np.ascontiguousarray(values)
    code = _TYPED.get(str(array.dtype))
    if code is None or array.size == 0 or array.ndim != 1:
        return array.tolist()  # type: ignore[no-any-return, unused-ignore]
    return {"dtype": code, "bdata": base64.b64encode(array.tobytes()).decode("ascii")}


def dates(values: npt.ArrayLike) -> list[str]:
    """Time stamps as plotly writes a ``datetime64`` array (ISO text, nanoseconds)."""
    return [str(text) for text in np.datetime_as_string(np.asarray(values, dtype="datetime64[ns]"))]


def figure_div(fig: Figure, *, div_id: str | None = None) -> str:
    """The ``<div>`` plotly's ``to_html(fig, full_html=False, include_plotlyjs=False)`` writes for a figure."""
    plot_id = div_id or str(uuid.uuid4())
    layout = {"template": _template(), **fig["layout"]}
    height = layout.get("height")
    div_height = f"{height}px" if height is not None else "100%"
    data, layout_json = _json(fig["data"]), _json(layout)
    return (
        f'<div style="height:{div_height}; width:100%;">                            '
        f'<div id="{plot_id}" class="plotly-graph-div" style="height:100%; width:100%;"></div>            '
        "<script>                window.PLOTLYENV=window.PLOTLYENV || {};                                "
        f'if (document.getElementById("{plot_id}")) {{                    Plotly.newPlot(                        '
        f'"{plot_id}",                        {data},                        {layout_json},                        '
        '{"responsive": true}                    )                };            </script>        </div>'
    )


def plotly_min_js() -> str:
    """plotly.js (``plotly.min.js``) as plotly's package ships it."""
    return (_package_data() / PLOTLY_JS).read_text(encoding="utf-8")  # the results folder's name is plotly's


@functools.lru_cache(maxsize=1)
def _template() -> dict[str, Any]:
    """Plotly's default template (``plotly``), as its figures carry it."""
    text = (_package_data() / "templates" / "plotly.json").read_text(encoding="utf-8")
    template = json.loads(text)
    return {"data": template["data"], "layout": template["layout"]}  # in plotly's order


def _package_data() -> Path:
    """Plotly's ``package_data`` folder, found without importing plotly."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("plotly is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data"


def _json(value: Any) -> str:
    """Compact JSON as plotly writes it: ``<``, ``>``, ``/`` escaped (no ``</script>`` in a page); NaN as ``null``."""
    text = json.dumps(_finite(value), separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("/", "\\u002f")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
