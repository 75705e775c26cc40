"""Sphinx extension of the book: pages that load nothing twice and nothing they do not use.

Jupyter Book 1.x always loads sphinx-thebe, which adds its inline configuration script to every page twice
(a ``THEBE_JS_URL`` redeclaration error in the browser console) and a loader for a remote script. The book
launches no live kernels (``launch_buttons.thebe: false``), so its scripts are dropped from the pages.
"""
from __future__ import annotations


def _drop_thebe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    kept = []
    for js in scripts:
        name = str(js)
        body = getattr(js, "attributes", {}).get("body", "") if hasattr(js, "attributes") else ""
        if "sphinx-thebe" in name or "THEBE_JS_URL" in body or "thebe" in body.lower():
            continue
        kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
