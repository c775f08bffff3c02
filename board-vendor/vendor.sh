#!/bin/sh
# Vendors the board's browser libraries: installs the exact versions pinned in package-lock.json
# and copies their browser builds and licences into fate_flow/board/static/vendor/. The copied files
# are committed, so installing or running fate_flow fetches nothing; rerun this only to upgrade.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../fate_flow/board/static/vendor"
cd "$here"
npm ci --no-audit --no-fund
rm -rf "$out"
mkdir -p "$out/chart.js" "$out/dagre"
nm="$here/node_modules"
# Chart.js's UMD build (bundles @kurkle/color) -> window.Chart
cp "$nm/chart.js/dist/chart.umd.js" "$out/chart.js/chart.umd.js"
cp "$nm/chart.js/LICENSE.md" "$out/chart.js/LICENSE.md"
cp "$nm/@kurkle/color/LICENSE.md" "$out/chart.js/LICENSE-kurkle-color.md"
# dagre's minified browser build (bundles @dagrejs/graphlib) -> window.dagre
cp "$nm/@dagrejs/dagre/dist/dagre.min.js" "$out/dagre/dagre.min.js"
cp "$nm/@dagrejs/dagre/dist/dagre.min.js.LEGAL.txt" "$out/dagre/dagre.min.js.LEGAL.txt"
cp "$nm/@dagrejs/dagre/LICENSE" "$out/dagre/LICENSE"
cp "$nm/@dagrejs/graphlib/LICENSE" "$out/dagre/LICENSE-graphlib"
# What was vendored, for the record
node -e '
const lock = require("./package-lock.json").packages;
const names = ["chart.js", "@kurkle/color", "@dagrejs/dagre", "@dagrejs/graphlib"];
console.log(names.map(n => n + "@" + lock["node_modules/" + n].version).join("\n"));
' > "$out/VERSIONS.txt"
cat "$out/VERSIONS.txt"
