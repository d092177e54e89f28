#!/usr/bin/env bash
# One photo in, a mesh out, for your own pictures (no ground truth, so pictures rather than scores):
#   scripts/chain_on_photos.sh PHOTO_FOLDER OUT_FOLDER
# Runs the chain's stages with the trained models of the last `dvc repro` (models/gan, models/critic,
# models/segmenter): multiview (projection + 20 views) -> segment (masks of the views) -> fit_mesh.
# Results: OUT/multiview/<photo>.png (input | reconstruction | views), OUT/segment/<photo>_overlay.png,
# OUT/fit_mesh/<photo>_turntable.png and OUT/meshes/<photo>.obj.
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: $0 PHOTO_FOLDER OUT_FOLDER" >&2; exit 2; fi
photos=$1; out=$2
for model in models/gan/generator.pt models/critic/critic.pt models/segmenter; do
  [ -e "$model" ] || { echo "error: $model not found (run dvc repro first)" >&2; exit 2; }
done
mkdir -p "$out"
python -m stages.multiview --input "$photos" --generator models/gan/generator.pt --critic models/critic/critic.pt \
  --segmenter models/segmenter --out "$out/views" --metrics "$out/multiview.json" \
  --objects "$out/multiview_objects.json" --plots "$out/multiview"
python -m stages.segment --input "$out/views" --views . --eval none --model models/segmenter \
  --out "$out/silhouettes" --metrics "$out/segment.json" --objects "$out/segment_objects.json" \
  --plots "$out/segment" --info "$out/segment_info.json"
python -m stages.fit_mesh --input "$out/silhouettes" --views . --out "$out/meshes" --metrics "$out/fit_mesh.json" \
  --objects "$out/fit_mesh_objects.json" --plots "$out/fit_mesh" --shape-prior   # as fit_mesh@chain
