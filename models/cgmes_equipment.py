"""The equipment of the CGMES writer (:mod:`models.cgmes_writer`): lines, transformers, injections, voltages.

Lines are ``ACLineSegment`` with impedances for their whole length and a PATL current limit;
transformers ``PowerTransformer`` with the impedance and magnetising admittance on the high-voltage
end, the clock number and a ``RatioTapChanger``; the external grid an ``ExternalNetworkInjection``
with a voltage ``RegulatingControl``; loads ``EnergyConsumer``; static generators
``SynchronousMachine`` without voltage control; SV the voltages of a power flow of the net.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import numpy as np

from models.cgmes_nodes import (
    CgmesModel,
    Nodes,
    add_location,
    add_terminal,
    end_node,
    enum,
    geo_coordinates,
    name_or,
    open_end_switches,
    ref,
)
from twin.core.errors import ConfigError

__all__ = ["write_injections", "write_lines", "write_slack", "write_transformers", "write_voltages"]


def write_lines(model: CgmesModel, net: Any, nodes: Nodes) -> None:
    """ACLineSegments with impedances for their whole length and a PATL current limit."""
    opened = open_end_switches(net)
    f_hz = float(net.get("f_hz", 50.0) or 50.0)
    limit_type = model.id("OperationalLimitType", "patl")
    if len(net.line):
        model.add(
            "EQ",
            "OperationalLimitType",
            limit_type,
            IdentifiedObject__name="PATL",
            OperationalLimitType__limitType=enum("LimitTypeKind.patl", entsoe=True),
            OperationalLimitType__direction=enum("OperationalLimitDirectionKind.absoluteValue"),
        )
    for index, line in net.line.iterrows():
        i = int(index)
        segment = model.id("ACLineSegment", i)
        n, length_km = float(line["parallel"]), float(line["length_km"])
        from_bus, to_bus = int(line["from_bus"]), int(line["to_bus"])
        model.add(
            "EQ",
            "ACLineSegment",
            segment,
            IdentifiedObject__name=name_or(line["name"], f"line {i}"),
            Conductor__length=length_km,
            ACLineSegment__r=float(line["r_ohm_per_km"]) * length_km / n,
            ACLineSegment__x=float(line["x_ohm_per_km"]) * length_km / n,
            ACLineSegment__bch=2.0 * math.pi * f_hz * float(line["c_nf_per_km"]) * 1e-9 * length_km * n,
            ACLineSegment__gch=float(line.get("g_us_per_km", 0.0) or 0.0) * 1e-6 * length_km * n,
            ConductingEquipment__BaseVoltage=ref(nodes.bv[from_bus]),
        )
        connected = bool(line["in_service"])
        ends = [(from_bus, 1), (to_bus, 2)]
        terminals = [
            add_terminal(
                model,
                nodes,
                segment,
                number,
                bus,
                connected=connected,
                node=end_node(model, nodes, opened, "l", segment, i, bus, number),
            )
            for bus, number in ends
        ]
        limit_a = float(line["max_i_ka"]) * float(line.get("df", 1.0) or 1.0) * n * 1000.0
        if math.isfinite(limit_a):
            limit_set = model.id("OperationalLimitSet", segment)
            model.add(
                "EQ",
                "OperationalLimitSet",
                limit_set,
                IdentifiedObject__name="ratings",
                OperationalLimitSet__Terminal=ref(terminals[0]),
            )
            model.add(
                "EQ",
                "CurrentLimit",
                model.id("CurrentLimit", segment),
                IdentifiedObject__name="PATL",
                OperationalLimit__OperationalLimitSet=ref(limit_set),
                OperationalLimit__OperationalLimitType=ref(limit_type),
                CurrentLimit__value=limit_a,
            )
        add_location(model, segment, geo_coordinates(line.get("geo")))


def write_transformers(model: CgmesModel, net: Any, nodes: Nodes) -> None:
    """Two-winding transformers: impedance and magnetising admittance on the high-voltage end."""
    opened = open_end_switches(net)
    for index, trafo in net.trafo.iterrows():
        i = int(index)
        name = name_or(trafo["name"], f"trafo {i}")
        tap = _tap(trafo, name)
        transformer = model.id("PowerTransformer", i)
        hv_bus, lv_bus = int(trafo["hv_bus"]), int(trafo["lv_bus"])
        model.add(
            "EQ",
            "PowerTransformer",
            transformer,
            IdentifiedObject__name=name,
            Equipment__EquipmentContainer=ref(model.id("Substation", hv_bus)),
        )
        n = float(trafo["parallel"])
        s_mva, u_hv = float(trafo["sn_mva"]) * n, float(trafo["vn_hv_kv"])
        z_base = u_hv**2 / s_mva
        r = float(trafo["vkr_percent"]) / 100.0 * z_base
        x = math.sqrt(max((float(trafo["vk_percent"]) / 100.0 * z_base) ** 2 - r**2, 0.0))
        g = float(trafo["pfe_kw"]) * n / 1000.0 / u_hv**2
        y_mag = float(trafo["i0_percent"]) / 100.0 * s_mva / u_hv**2
        b = math.sqrt(max(y_mag**2 - g**2, 0.0))
        shift = float(trafo["shift_degree"]) % 360.0
        clock = round(shift / 30.0) % 12
        if abs(clock * 30.0 - shift) > 1e-9:
            raise ConfigError(
                f"transformer {name!r}: shift_degree {shift:g} is no multiple of 30 (a clock number)", field="grid"
            )
        kinds = _winding_kinds(trafo.get("vector_group"))
        connected = bool(trafo["in_service"])
        for number, (bus, u_kv, side) in enumerate(
            ((hv_bus, u_hv, "hv"), (lv_bus, float(trafo["vn_lv_kv"]), "lv")), start=1
        ):
            end = model.id("PowerTransformerEnd", i, number)
            node = end_node(model, nodes, opened, "t", transformer, i, bus, number)
            terminal = add_terminal(model, nodes, transformer, number, bus, connected=connected, node=node)
            model.add(
                "EQ",
                "PowerTransformerEnd",
                end,
                IdentifiedObject__name=f"{name} {side}",
                PowerTransformerEnd__PowerTransformer=ref(transformer),
                TransformerEnd__endNumber=number,
                TransformerEnd__Terminal=ref(terminal),
                TransformerEnd__BaseVoltage=ref(nodes.bv[bus]),
                PowerTransformerEnd__ratedS=s_mva,
                PowerTransformerEnd__ratedU=u_kv,
                PowerTransformerEnd__r=r if number == 1 else 0.0,
                PowerTransformerEnd__x=x if number == 1 else 0.0,
                PowerTransformerEnd__b=b if number == 1 else 0.0,
                PowerTransformerEnd__g=g if number == 1 else 0.0,
                PowerTransformerEnd__phaseAngleClock=0 if number == 1 else clock,
                PowerTransformerEnd__connectionKind=enum(f"WindingConnection.{kinds[number - 1]}") if kinds else None,
            )
            if tap is not None and tap[0] == side:
                _tap_changer(model, i, end, tap, u_kv)


def _tap(trafo: Any, name: str) -> tuple[str, int, int, int, int, float] | None:
    """(side, neutral, low, high, step, step_percent) of a ratio tap changer, or None."""
    side, step_percent = trafo.get("tap_side"), trafo.get("tap_step_percent")
    if side not in ("hv", "lv") or step_percent is None or not math.isfinite(float(step_percent)):
        return None
    kind = trafo.get("tap_changer_type")
    kind = None if kind is None or (isinstance(kind, float) and math.isnan(kind)) or kind == "" else str(kind)
    table = trafo.get("tap_dependency_table", False)
    if kind not in (None, "Ratio") or (isinstance(table, bool | np.bool_) and bool(table)):
        raise ConfigError(
            f"transformer {name!r}: tap changer {kind or 'with a characteristic table'} is not exported "
            "(ratio tap changers are)",
            field="grid",
        )
    neutral, low, high = (int(float(trafo[c])) for c in ("tap_neutral", "tap_min", "tap_max"))
    # pandapower ignores the position of a tap changer without a type: it acts as if at neutral
    position = int(float(trafo["tap_pos"])) if kind == "Ratio" else neutral
    return str(side), neutral, low, high, position, float(step_percent)


def _tap_changer(model: CgmesModel, i: int, end: str, tap: tuple[str, int, int, int, int, float], u_kv: float) -> None:
    _, neutral, low, high, position, step_percent = tap
    changer = model.id("RatioTapChanger", i)
    model.add(
        "EQ",
        "RatioTapChanger",
        changer,
        IdentifiedObject__name="tap changer",
        RatioTapChanger__TransformerEnd=ref(end),
        TapChanger__neutralStep=neutral,
        TapChanger__lowStep=low,
        TapChanger__highStep=high,
        TapChanger__normalStep=position,
        TapChanger__neutralU=u_kv,
        TapChanger__ltcFlag=False,
        RatioTapChanger__stepVoltageIncrement=step_percent,
        RatioTapChanger__tculControlMode=enum("TransformerControlMode.volt"),
    )
    model.add("SSH", "RatioTapChanger", "#" + changer, TapChanger__step=position, TapChanger__controlEnabled=False)


def _winding_kinds(vector_group: Any) -> tuple[str, str] | None:
    """('D', 'Yn') from 'Dyn5' or 'Dyn'; None when unknown."""
    if not isinstance(vector_group, str):
        return None
    letters = vector_group.rstrip("0123456789")
    for hv in ("YN", "Y", "D", "Z"):
        if letters.upper().startswith(hv):
            lv = letters[len(hv) :].lower()
            if lv in ("yn", "y", "d", "z", "zn"):
                return hv.capitalize(), lv.capitalize()
    return None


def write_slack(model: CgmesModel, net: Any, nodes: Nodes) -> None:
    """External grids as ExternalNetworkInjections with a voltage RegulatingControl (the first is the slack)."""
    for index, ext in net.ext_grid.iterrows():
        i, bus = int(index), int(ext["bus"])
        injection, control = model.id("ExternalNetworkInjection", i), model.id("RegulatingControl", i)
        # pandapower's reader turns the short-circuit currents back into powers at the set-point voltage
        u_set_kv = float(ext["vm_pu"]) * nodes.vn_kv[bus]
        i_sc_ka = {
            key: float(value) / (math.sqrt(3.0) * u_set_kv) if isinstance(value, int | float) else None
            for key in ("s_sc_max_mva", "s_sc_min_mva")
            for value in (ext.get(key),)
        }
        model.add(
            "EQ",
            "ExternalNetworkInjection",
            injection,
            IdentifiedObject__name=name_or(ext["name"], f"ext_grid {i}"),
            Equipment__EquipmentContainer=ref(nodes.vl[bus]),
            RegulatingCondEq__RegulatingControl=ref(control),
            ExternalNetworkInjection__maxInitialSymShCCurrent=_amperes(i_sc_ka["s_sc_max_mva"]),
            ExternalNetworkInjection__minInitialSymShCCurrent=_amperes(i_sc_ka["s_sc_min_mva"]),
            ExternalNetworkInjection__maxR1ToX1Ratio=_number(ext.get("rx_max")),
            ExternalNetworkInjection__minR1ToX1Ratio=_number(ext.get("rx_min")),
        )
        terminal = add_terminal(model, nodes, injection, 1, bus, connected=bool(ext["in_service"]))
        model.add(
            "EQ",
            "RegulatingControl",
            control,
            IdentifiedObject__name="voltage",
            RegulatingControl__mode=enum("RegulatingControlModeKind.voltage"),
            RegulatingControl__Terminal=ref(terminal),
        )
        model.add(
            "SSH",
            "RegulatingControl",
            "#" + control,
            RegulatingControl__discrete=False,
            RegulatingControl__enabled=True,
            RegulatingControl__targetValue=u_set_kv,
            RegulatingControl__targetDeadband=0.0,
            RegulatingControl__targetValueUnitMultiplier=enum("UnitMultiplier.k"),
        )
        model.add(
            "SSH",
            "ExternalNetworkInjection",
            "#" + injection,
            ExternalNetworkInjection__p=0.0,
            ExternalNetworkInjection__q=0.0,
            ExternalNetworkInjection__referencePriority=1,
            RegulatingCondEq__controlEnabled=True,
        )


def _amperes(i_ka: float | None) -> float | None:
    return None if i_ka is None else i_ka * 1000.0


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def write_injections(model: CgmesModel, net: Any, nodes: Nodes) -> None:
    """Loads as EnergyConsumers, static generators as SynchronousMachines without voltage control."""
    for index, load in net.load.iterrows():
        i, bus = int(index), int(load["bus"])
        consumer = model.id("EnergyConsumer", i)
        model.add(
            "EQ",
            "EnergyConsumer",
            consumer,
            IdentifiedObject__name=name_or(load["name"], f"load {i}"),
            ConductingEquipment__BaseVoltage=ref(nodes.bv[bus]),
            Equipment__EquipmentContainer=ref(nodes.vl[bus]),
        )
        scaling = float(load.get("scaling", 1.0))
        model.add(
            "SSH",
            "EnergyConsumer",
            "#" + consumer,
            EnergyConsumer__p=float(load["p_mw"]) * scaling,
            EnergyConsumer__q=float(load["q_mvar"]) * scaling,
        )
        add_terminal(model, nodes, consumer, 1, bus, connected=bool(load["in_service"]))
    units = {"PV": "SolarGeneratingUnit", "WP": "WindGeneratingUnit"}
    for index, sgen in net.sgen.iterrows():
        i, bus = int(index), int(sgen["bus"])
        machine, unit = model.id("SynchronousMachine", i), model.id("GeneratingUnit", i)
        name = name_or(sgen["name"], f"sgen {i}")
        scaling = float(sgen.get("scaling", 1.0))
        p_mw, q_mvar = float(sgen["p_mw"]) * scaling, float(sgen["q_mvar"]) * scaling
        sn_mva = float(sgen["sn_mva"]) if math.isfinite(float(sgen.get("sn_mva", math.nan) or math.nan)) else None
        model.add(
            "EQ",
            units.get(str(sgen.get("type")), "GeneratingUnit"),
            unit,
            IdentifiedObject__name=name,
            GeneratingUnit__nominalP=sn_mva,
            GeneratingUnit__minOperatingP=0.0,
            GeneratingUnit__maxOperatingP=sn_mva or abs(p_mw),
            Equipment__EquipmentContainer=ref(nodes.vl[bus]),
        )
        model.add(
            "EQ",
            "SynchronousMachine",
            machine,
            IdentifiedObject__name=name,
            RotatingMachine__GeneratingUnit=ref(unit),
            RotatingMachine__ratedS=sn_mva,
            RotatingMachine__ratedU=nodes.vn_kv[bus],
            SynchronousMachine__type=enum("SynchronousMachineKind.generator"),
            Equipment__EquipmentContainer=ref(nodes.vl[bus]),
        )
        # load sign convention in SSH: a generator feeding in has p < 0
        model.add(
            "SSH",
            "SynchronousMachine",
            "#" + machine,
            RotatingMachine__p=-p_mw,
            RotatingMachine__q=-q_mvar,
            SynchronousMachine__referencePriority=0,
            SynchronousMachine__operatingMode=enum("SynchronousMachineOperatingMode.generator"),
            RegulatingCondEq__controlEnabled=False,
        )
        add_terminal(model, nodes, machine, 1, bus, connected=bool(sgen["in_service"]))


def write_voltages(model: CgmesModel, net: Any, nodes: Nodes) -> None:
    """SvVoltage per TopologicalNode from a power flow of the net as it stands (the slack's set point if it fails)."""
    import pandapower as pp

    solved = copy.deepcopy(net)
    solved.pop("profiles", None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.runpp(solved, numba=False)
        voltages = {int(b): (float(r.vm_pu), float(r.va_degree)) for b, r in solved.res_bus.iterrows()}
    except Exception:  # noqa: BLE001 - any failure leaves SV with the slack's voltage only (SV is optional)
        voltages = {}
    for _, ext in net.ext_grid.iterrows():
        voltages[int(ext["bus"])] = (float(ext["vm_pu"]), float(ext["va_degree"]))
    written: set[str] = set()
    for bus, (vm_pu, va_degree) in voltages.items():
        tn = nodes.tn.get(bus)
        if tn is None or tn in written or not (math.isfinite(vm_pu) and math.isfinite(va_degree)):
            continue
        written.add(tn)
        model.add(
            "SV",
            "SvVoltage",
            model.id("SvVoltage", tn),
            SvVoltage__TopologicalNode=ref(tn),
            SvVoltage__v=vm_pu * nodes.vn_kv[bus],
            SvVoltage__angle=va_degree,
        )
