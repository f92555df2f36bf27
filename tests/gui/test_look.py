"""The window a physicist reads at a glance (issue 16, items 1-5 and 10; pytest-qt,
offscreen): labelled axes with units and one tick style, "no data yet" before data, the
digipots in codes or kOhm of the run's own digipot, an edges x steps heat map, legends
beside the data, readable colours, a colour scale and role legend in the network view,
and the light PNG/SVG export theme."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from PyQt6.QtGui import QImage, QPalette

from gui import export
from gui.look import MIN_CONTRAST, contrast, edge_colours, power_of_ten
from gui.netview import NetworkView
from gui.plots import Plots
from gui.window import MainWindow
from lab.acquire.settings import settings_from
from lab.acquire.trainer import Trainer
from lab.core.digipot import Digipot
from lab.core.network import Network
from lab.hal.benchfile import bench_dir, load_bench
from lab.runs import RunReader, RunWriter
from lab.tasks import load_task

REPO = Path(__file__).resolve().parents[2]

STEPS = 60
SUPERSCRIPT_POWER = re.compile(r"([1-9]×)?10⁻?[⁰¹²³⁴⁵⁶⁷⁸⁹]+")


def _run(path: Path, bench: str | None = None) -> Path:
    settings = settings_from(task="ii", steps=STEPS, p=0.5, test_every=0)
    Trainer(load_bench(bench), load_task("ii"), settings, [RunWriter(path)]).run()
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A run on the default emulator (128 positions) and one on 16-position digipots."""
    d = tmp_path_factory.mktemp("look")
    text = (bench_dir() / "emulator.toml").read_text()
    assert 'network = "twin16"' in text
    bench16 = d / "bench16.toml"
    bench16.write_text(text.replace('network = "twin16"', 'network = "twin16"\npositions = 16'))
    return {"128": _run(d / "run128.h5"), "16": _run(d / "run16.h5", str(bench16))}


@pytest.fixture
def window(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def _codes(path: Path) -> np.ndarray:
    with RunReader(path) as run:
        return run.steps["positions"][:]


def test_every_plot_has_axis_labels_with_units_and_no_scale_factor(window, runs):
    plots = window.plots

    def labels() -> dict[str, tuple[str, str]]:
        out = {}
        for name, w in (("error", plots.error_plot), ("codes", plots.trace_plot),
                        ("heat", plots.heat_plot), ("outputs", plots.output_plot)):
            item = w.getPlotItem()
            out[name] = (item.getAxis("left").labelString(),
                         item.getAxis("bottom").labelString())
        return out

    for when in ("empty", "replay"):
        if when == "replay":
            assert window.open_run(runs["128"])
        got = labels()
        assert "error (V²)" in got["error"][0]
        assert "code" in got["codes"][0] and "edge" in got["heat"][0]
        assert "voltage (V)" in got["outputs"][0]
        for left, bottom in got.values():  # "step (x0.001)" nowhere, empty or not
            assert "step" in bottom and "(x" not in bottom and "(x" not in left
    plots.set_unit("kohm")
    assert "resistance (kΩ)" in labels()["codes"][0]
    assert "resistance" in plots.trace_plot.getPlotItem().titleLabel.text


def test_the_log_error_axis_has_one_tick_style(window, runs):
    assert window.open_run(runs["128"])
    axis = window.plots.error_plot.getPlotItem().getAxis("left")
    assert axis.logMode
    strings = []
    for lo, hi in ((-5.3, -3.1), (-8.0, 0.5), (-4.2, -3.9)):  # minor ticks and decades
        for spacing, values in axis.tickValues(lo, hi, 300):
            strings += axis.tickStrings(values, 1.0, spacing)
    assert strings and all(SUPERSCRIPT_POWER.fullmatch(s) for s in strings), strings
    assert power_of_ten(1e-4) == "10⁻⁴" and power_of_ten(2e-5) == "2×10⁻⁵"


def test_empty_plots_say_no_data_yet_and_the_network_shows_dashes(window, runs):
    plots, view = window.plots, window.plots.netview
    assert all(t.isVisible() and t.toPlainText() == "no data yet"
               for t in plots.empty_texts.values())
    assert {t.textItem.toPlainText() for t in view._labels} == {"-"}
    assert view.edge_text(0).endswith("no data yet")
    assert window.open_run(runs["128"])
    assert not any(t.isVisible() for t in plots.empty_texts.values())
    codes = _codes(runs["128"])
    assert [t.textItem.toPlainText() for t in view._labels] == [str(c) for c in codes[-1]]


@pytest.mark.parametrize("positions", ["128", "16"])
def test_the_code_resistance_switch_plots_the_runs_digipot_resistance(window, runs, positions):
    path = runs[positions]
    assert window.open_run(path)
    plots, setup = window.plots, window.free_setup
    digipot = Digipot(int(positions))
    assert setup.digipot == digipot and plots.digipot == digipot
    codes = _codes(path)
    curve = plots.trace_curves[3]
    np.testing.assert_array_equal(curve.yData, codes[:, 3])
    assert plots.trace_plot.getPlotItem().viewRange()[1][1] == pytest.approx(
        digipot.top, rel=0.05)
    assert plots.netview.colour_bar.levels() == (0, digipot.top)
    plots.unit_box.setCurrentIndex(plots.unit_box.findData("kohm"))  # the user's switch
    window.redraw()
    assert plots.unit == "kohm"
    kohm = digipot.resistance(codes[:, 3], setup.r_end_to_end, setup.r_wiper) / 1e3
    np.testing.assert_allclose(curve.yData, kohm, rtol=1e-6)
    top = digipot.resistance(digipot.top, setup.r_end_to_end, setup.r_wiper) / 1e3
    assert plots.trace_plot.getPlotItem().viewRange()[1][1] == pytest.approx(top, rel=0.05)
    assert plots.heat_bar.levels()[1] == pytest.approx(top)
    np.testing.assert_allclose(plots.heat_image.image[-1],
                               digipot.resistance(codes[-1], setup.r_end_to_end,
                                                  setup.r_wiper) / 1e3, rtol=1e-6)
    plots.set_unit("code")
    window.redraw()
    np.testing.assert_array_equal(curve.yData, codes[:, 3])


def test_the_heat_map_holds_one_row_per_edge(window, runs):
    assert window.open_run(runs["128"])
    plots = window.plots
    codes = _codes(runs["128"])
    image = plots.heat_image.image
    n_edges = plots.netview.network.n_edges
    assert image.shape[1] == n_edges == codes.shape[1] == 16
    np.testing.assert_array_equal(image[0], codes[0])
    np.testing.assert_array_equal(image[-1], codes[-1])
    for i in range(n_edges):  # every column a recorded state of that edge
        assert set(image[:, i].tolist()) <= set(codes[:, i].tolist())
    left = plots.heat_plot.getPlotItem().getAxis("left")
    names = [name for _, name in left._tickLevels[0]]
    assert names[0] == plots.netview.network.edge_labels()[0]


def test_legends_lie_outside_the_data_area(window, runs, qtbot):
    assert window.open_run(runs["128"])
    qtbot.wait(50)  # the layouts settle at the next event loop pass, as on screen
    plots = window.plots
    for w, n in ((plots.error_plot, 2), (plots.trace_plot, 16), (plots.output_plot, 4),
                 (plots.netview, 4)):
        data = w.getPlotItem().getViewBox().sceneBoundingRect()
        assert len(w.legend.items) == n
        for sample, label in w.legend.items:
            for part in (sample, label):
                rect = part.sceneBoundingRect()
                assert rect.width() > 0 and not rect.intersects(data), (w, label.text)
                assert w.rect().contains(w.mapFromScene(rect.center())), label.text
    assert plots.trace_plot.legend_names() == plots.netview.network.edge_labels()


@pytest.mark.parametrize("size", [(1400, 900), (1100, 700)])
def test_every_edge_of_a_30_edge_network_is_in_the_legend_in_view(window, qtbot, size):
    """Regression: with 30 edges the digipot legend (two fixed columns, taller than the
    plot) was cut after 22 entries. Its columns now follow the plot's height."""
    net = Network.from_name(str(REPO / "bench" / "networks" / "board30.toml"))
    plots = window.plots
    plots.set_network(net, [1], [7, 15], [2])
    window.resize(*size)
    qtbot.wait(100)  # the layouts settle at the next event loop passes, as on screen
    w = plots.trace_plot
    assert w.legend_names() == net.edge_labels()
    data = w.getPlotItem().getViewBox().sceneBoundingRect()
    shown = w.rect()
    for sample, label in w.legend.items:
        for part in (sample, label):
            rect = w.mapFromScene(part.sceneBoundingRect()).boundingRect()
            assert shown.contains(rect), (label.text, rect, shown)
            assert not part.sceneBoundingRect().intersects(data), label.text
    assert w.legend.columnCount >= 3
    # the error plot above gets as wide a legend column: their linked step axes, lined up
    # on screen by pyqtgraph, then show the same steps (not the traces' first 70 %)
    above = plots.error_plot.getPlotItem().getViewBox().sceneBoundingRect()
    left = plots.error_plot.mapToGlobal(plots.error_plot.mapFromScene(above.topLeft()))
    assert left.x() == w.mapToGlobal(w.mapFromScene(data.topLeft())).x()
    assert above.width() == pytest.approx(data.width(), abs=3)
    plots.set_network(Network.twin16(), [1], [7, 8], [9])  # back to 16 edges: two columns
    qtbot.wait(100)
    assert w.legend.columnCount == 2


def test_outputs_have_one_colour_per_node_and_a_line_style_per_voltage(qtbot):
    plots = Plots()
    qtbot.addWidget(plots)
    plots.set_outputs([4, 6, 8])
    assert plots.output_plot.legend_names() == [
        "node 4", "node 6", "node 8", "V_F (free)", "V_C (clamped)", "V_D (desired)"]
    colours = [{c.opts["pen"].color().name() for c in curves} for curves in plots.output_curves]
    assert all(len(c) == 1 for c in colours)  # V_F, V_C, V_D of a node: one colour
    assert len({next(iter(c)) for c in colours}) == 3  # nodes: distinct colours
    for curves in plots.output_curves:
        patterns = [tuple(c.opts["pen"].dashPattern()) for c in curves]
        assert len(set(patterns)) == 3  # solid, dashed, dotted
        assert curves[2].zValue() > curves[0].zValue()  # V_D drawn over V_F
        assert [c.name().split()[0] for c in curves] == ["V_F", "V_C", "V_D"]


def test_every_label_colour_is_readable_on_its_background(window, runs):
    assert window.open_run(runs["128"])
    plots, c = window.plots, window.controls
    base = c.edge_list.palette().color(QPalette.ColorRole.Base)
    assert c.edge_list.count() == 16
    for i in range(c.edge_list.count()):  # the edge list: coloured text on its base
        fg = c.edge_list.item(i).foreground().color()
        assert contrast(fg, base) >= MIN_CONTRAST, (c.edge_list.item(i).text(), fg.name())
    background = plots.trace_plot.backgroundBrush().color()  # the plots as drawn
    traces = [curve.opts["pen"].color() for curve in plots.trace_curves]
    outputs = [curves[0].opts["pen"].color() for curves in plots.output_curves]
    legends = [w.legend.labelTextColor() for w in (plots.error_plot, plots.trace_plot,
                                                    plots.output_plot, plots.netview)]
    empty = [t.color for t in plots.empty_texts.values()]
    for colour in traces + outputs + legends + empty:
        assert contrast(colour, background) >= MIN_CONTRAST, colour.name()
    for n in (3, 16, 40):  # any edge count: on black and on white
        for colour in edge_colours(n):
            assert min(contrast(colour, "k"), contrast(colour, "w")) >= MIN_CONTRAST


def test_the_network_view_has_a_colour_scale_a_role_legend_and_shows_uncertainty(qtbot):
    view = NetworkView(Network.twin16())
    qtbot.addWidget(view)
    assert view.colour_bar.levels() == (0, 127)
    assert view.legend_names() == ["input", "output", "ground", "free"]
    view.set_digipot(Digipot(16))
    assert view.colour_bar.levels() == (0, 15)
    codes = np.arange(16, dtype=np.int16) % 16
    view.set_state(codes, None)
    top = view._edges[15].opts["pen"].color()  # code 15 of 16 positions: the top colour
    assert top.name() == view.cmap.map(1.0, mode="qcolor").name()
    view.set_codes("estimated")
    sd = np.full(16, 0.2)
    sd[7] = 0.7
    view.set_state(codes, None, sd=sd)
    assert view._labels[7].textItem.toPlainText() == "7±0.7"  # uncertain: on the edge
    assert view._labels[6].textItem.toPlainText() == "6"  # 0.2 code: only in the hover text
    view.set_codes("exact")
    view.set_state(codes, None)
    assert view._labels[7].textItem.toPlainText() == "7"


def _pixel(path: Path, x: int, y: int) -> str:
    image = QImage(str(path))
    assert not image.isNull()
    return image.pixelColor(x, y).name()


def test_the_light_export_theme_writes_png_and_svg_and_restores_the_screen(window, runs,
                                                                           tmp_path):
    assert window.open_run(runs["128"])
    plots = window.plots
    axis = plots.error_plot.getPlotItem().getAxis("left")
    before = axis.textPen().color().name()
    paths = export.export_figures(plots.panels(), tmp_path, "run")
    assert sorted(p.name for p in paths) == sorted(
        f"run_{name}.{fmt}" for name in plots.panels() for fmt in ("png", "svg"))
    png = tmp_path / "run_error.png"
    assert _pixel(png, 2, 2) == "#ffffff"  # light background
    svg = ET.parse(tmp_path / "run_codes.svg").getroot()
    assert svg.tag.endswith("svg")
    text = (tmp_path / "run_codes.svg").read_text()
    assert "#ffffff" in text and "#000000" in text  # white ground, black axes
    assert "resistance" in text or "code" in text
    assert axis.textPen().color().name() == before  # the screen is dark again
    dark = export.export_png(plots.panels(), tmp_path / "screen", "run")
    assert _pixel(dark[0], 2, 2) == "#000000"
    with pytest.raises(ValueError, match="theme must be one of"):
        export.export_figures(plots.panels(), tmp_path / "bad", "run", theme="sepia")
    assert not (tmp_path / "bad").exists()
    saved = window.export_figures(tmp_path / "menu")  # File > Export figures
    assert {p.suffix for p in saved} == {".png", ".svg"} and len(saved) == 12  # + watch
    assert all(p.name.startswith(runs["128"].stem) for p in saved)

