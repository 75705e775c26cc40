"""The book's table presenter: readers' names, decimals by quantity, missing values explained, no spill."""
import re

import numpy as np
import pandas as pd

from pdedenoise import book, labels


def _cells(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html, re.S)]


def test_names_decimals_and_missing_values():
    df = pd.DataFrame({"method": ["foe-s-authors", "bm3d"], "PSNR BSD68 s25": [28.12345, np.nan],
                       "SSIM": [0.81234, -np.inf], "margin": [0.5, "-inf"], "parameters": [206065.0, 3.78e9], "seconds": [0.000123, 173.098833],
                       "rms_db": [0.549363, 0.1], "setting": [(25,), {"stages": 2}]})
    html = book.table(df, 4, "table2").text
    cells = _cells(html)
    assert "Table 2" in html and "table2" not in cells
    assert labels.label("foe-s-authors") in cells and "foe-s-authors" not in cells and "BM3D" in cells
    assert "28.12" in cells and "0.812" in cells and cells.count("−∞") == 2  # PSNR 2 decimals, SSIM 3; infinities
    assert "206,065" in cells and "3,780,000,000" in cells                  # counts: integers, thousands
    assert "0.000123" in cells and "173" in cells                           # times: 3 significant digits
    assert labels.label("rms_db") in cells and "0.55" in cells
    assert "25" in cells and "stages 2" in cells                            # no Python literals
    assert "—" in cells and book.MISSING_REASON in html                     # a dash, explained below
    assert not {c for c in cells if re.fullmatch(r"-?(nan|inf|None)", c, re.I)}
    assert 'class="pde-table" style="overflow-x: auto' in html and "position: sticky" in html


def test_missing_reasons_per_column_are_numbered_footnotes():
    df = pd.DataFrame({"a": [1.5, np.nan], "b": [np.nan, 2.5]})
    html = book.table(df, 1, missing={"a": "not published", "b": "diverged"}).text
    cells = _cells(html)
    assert "— [1]" in cells and "— [2]" in cells
    assert html.index("not published") < html.index("diverged")


def test_settings_show_text_not_literals():
    html = book.settings({"sigmas": (25,), "model": {"stages": 2, "kernel": 5}, "lr": 0.001, "n_train": 400},
                         "ci")
    cells = _cells(html.text)
    assert "(25,)" not in html.text and "{'stages'" not in html.text
    assert "stages 2; kernel 5" in cells and labels.label("n_train") in cells and "400" in cells


def test_comparison_caption_key_and_check_only():
    df = pd.DataFrame({"quantity": ["PSNR, Lena"], "published": [30.1234], "reproduced": [29.9876],
                       "difference": [-0.1358], "verdict": ["close"], "reason": ["x" * 40]})
    html = book.comparison(df, "own_vs_released", check_only=True).text
    assert labels.label("own_vs_released") in html and "ci check" in html and "30.12" in _cells(html)


def test_code_keys_are_the_code_like_ones():
    keys = labels.code_keys()
    assert {"foe-s-authors", "rms_db", "table2", "perona-malik-tuned", "bm3d", "tnrd"} <= keys
    assert not {"own", "cross-diffusion", "heat"} & keys


def test_caption_keys_after_a_prefix():
    df = pd.DataFrame({"quantity": ["x"], "published": [1.0], "reproduced": [1.0]})
    assert "medium: Table 3" in book.comparison(df, "medium: table3").text


def test_a_single_wide_row_is_transposed_and_formatted_per_quantity():
    row = pd.DataFrame([{"best T": 0.45, "PSNR at best T (dB)": 26.7712, "explicit steps": 9.0, "explicit (ms)": 10.456,
                         "SSIM": 0.81234, "parameters": 26885.0}])
    cells = _cells(book.table(row, 3).text)
    assert cells[:2] == ["quantity", "value"]
    assert {"0.450", "26.77", "9", "10.5", "0.812", "26,885"} <= set(cells)


def test_row_numbers_are_not_shown_but_row_labels_are():
    df = pd.DataFrame({"a": [1.5, 2.5], "dB lost": [2.52571, 0.1]}, index=[45, 46])
    cells = _cells(book.table(df, 4).text)
    assert "45" not in cells and "2.53" in cells                            # decibels: 2 decimals
    cells = _cells(book.table(df.set_index(pd.Index(["Lena", "Barbara"]))).text)
    assert "Lena" in cells


def test_ordinary_words_in_cells_are_not_relabelled():
    cells = _cells(book.table(pd.DataFrame({"solver": ["heat", "perona-malik-tuned"], "rate": [1.0, 2.0]})).text)
    assert "heat" in cells and labels.label("perona-malik-tuned") in cells


def test_non_numbers_inside_a_sentence_read_as_words():
    """A recorded message in a text cell ("training loss became inf at step 13") shows no "inf" or "nan" to the
    reader; words that merely contain them (information, infinite, nano) are left alone."""
    df = pd.DataFrame({"model": ["FoE-M", "KA"], "diverged": ["training loss became inf at step 13",
                                                               "loss nan at step 2; see information on infinite nanoscale"]})
    cells = _cells(book.table(df).text)
    assert "training loss became infinite at step 13" in cells
    assert "loss not a number at step 2; see information on infinite nanoscale" in cells
    assert not [c for c in cells if re.search(r"(?<![\w.-])(nan|inf|infinity)(?![\w-])", c, re.I)]


def test_a_smoke_run_collapses_its_tables_and_figures_until_the_recorded_run():
    import matplotlib.pyplot as plt

    from pdedenoise import book

    rec = {"provenance": {"commit": "abc1234", "date": "2026-12-02T10:00:00", "device": "CPU"}}
    df = pd.DataFrame({"method": ["a"], "PSNR": [1.0]})
    try:
        assert book.smoke_run("medium", {"medium": rec}) is None  # the page's own run is the evidence
        assert book.smoke_run("ci", {"medium": None, "full": None}) is None  # nothing recorded: ci is all there is
        assert "<details" not in book.table(df).text
        banner = book.smoke_run("ci", {"medium": rec})
        assert "abc1234" in banner.text and "medium" in banner.text
        shown = book.table(df, caption="table1")
        assert shown.text.startswith("<details") and "smoke run (ci)" in shown.text
        assert "<details" in book.comparison(pd.DataFrame({"quantity": ["x"], "published": [1.0], "reproduced": [1.0],
                                                           "difference": [0.0], "verdict": ["reproduced"]})).text
        fig, ax = plt.subplots()
        ax.plot([0, 1])
        from unittest import mock

        with mock.patch("IPython.display.display") as display:
            book.show(fig)
        assert "<details" in display.call_args[0][0].data and "data:image/png;base64," in display.call_args[0][0].data
        heading = book.recorded_run(rec, "medium")
        assert "commit abc1234" in heading.text
        assert "<details" not in book.table(df).text  # the recorded run is shown open
    finally:
        book.recorded_run(None, "ci")


def test_a_recorded_figure_is_shown_only_where_its_text_stays_readable(tmp_path):
    from PIL import Image, PngImagePlugin

    def png(name, width, text_px=None):
        info = PngImagePlugin.PngInfo()
        if text_px is not None:
            info.add_text(book.TEXT_PX_KEY, str(text_px))
        Image.new("L", (width, 100), 200).save(tmp_path / name, pnginfo=info)
        return tmp_path / name

    assert book.recorded_figure(png("page.png", 640)) is not None  # the book's size: 9 pt at 90 dpi, unscaled
    assert book.recorded_figure(png("old.png", 1175)) is None  # an older run's wider figure: 6.6 px as shown
    assert book.recorded_figure(png("big_text.png", 1175, 20.0)) is not None  # 11.7 px as shown
    assert book.recorded_figure(png("small_text.png", 600, 8.0)) is None


def test_details_puts_several_tables_behind_one_toggle():
    import pandas as pd

    from pdedenoise import book

    parts = [book.table(pd.DataFrame({"x": [i]}), 2, f"gap {i}: hypotheses") for i in range(3)]
    out = book.details("Each gap's hypotheses: 3 tables <click>", parts)._repr_html_()
    assert out.startswith('<details class="pde-details"') and out.endswith("</details>")
    assert out.count("<table") == 3 and "gap 2: hypotheses" in out
    assert "&lt;click&gt;" in out  # the summary line is text, not markup
