#!/usr/bin/env bash
# Fetch the JavaScript the static book needs (require.js, the Jupyter widgets HTML manager and
# MathJax 3) from the npm registry into DEST, so pages render widgets and math with no CDN.
# Nothing fetched is committed: DEST is ignored by git and rebuilt by `make book`.
set -euo pipefail
dest=${1:-book/_widgetjs}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @jupyter-widgets/html-manager@1.0.6 requirejs@2.3.7 mathjax@3.2.2 >/dev/null)
for t in "$work"/*.tgz; do mkdir -p "$work/x" && tar -xzf "$t" -C "$work/x" && mv "$work/x/package" "$work/$(basename "$t" .tgz)"; done
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
cp "$work"/jupyter-widgets-html-manager-1.0.6/dist/embed-amd.js "$dest.tmp/"
cp "$work"/requirejs-2.3.7/require.js "$dest.tmp/"
# MathJax: the one combined component the book loads (tex-chtml.js) and the folders it loads on
# demand (TeX extensions, CHTML fonts, menu, accessibility and speech); not the 15 MB of
# alternative combined builds.
mkdir -p "$dest.tmp/mathjax"
for part in tex-chtml.js input output ui a11y sre adaptors; do
  cp -r "$work/mathjax-3.2.2/es5/$part" "$dest.tmp/mathjax/"
done
rm -rf "$dest" && mv "$dest.tmp" "$dest"
# the widget manager loads its icon fonts from @jupyter-widgets/html-manager/dist/ relative to the page:
# put them there for the pages at the book's root and for the executed chapters
fonts=${2:-$(dirname "$dest")/_widgetfonts}
rm -rf "$fonts" && mkdir -p "$fonts"
for where in "" executed/; do
  mkdir -p "$fonts/${where}@jupyter-widgets/html-manager/dist"
  cp "$work"/jupyter-widgets-html-manager-1.0.6/dist/*.{woff,woff2,ttf,eot,svg} "$fonts/${where}@jupyter-widgets/html-manager/dist/"
done
echo "fetched book JavaScript into $dest and the widget fonts into $fonts"
