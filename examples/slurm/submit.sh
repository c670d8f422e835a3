#!/bin/bash
# Submits a sharded idrisk run to Slurm: facts, then an array of shards, then the merge,
# each step starting when the one before it succeeded. Paths are on a shared filesystem
# (or object storage URLs: az://, s3://, gs://, with the credentials in the environment).
#
#   INPUT=/shared/signins-dataset WORK=/shared/idrisk/2026-12-06 SHARDS=8 ./submit.sh
#
# IDRISK_FLAGS: the flags every step shares (enrichment files, --rules, --since/--until,
# --score-since); they must be the same for the facts and the shards, which check it.
# SHARD_MEMORY: what each shard keeps itself under (it splits its users further when needed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export IDRISK=${IDRISK:-idrisk}
export INPUT=${INPUT:?set INPUT to the sign-ins: a dataset directory, files or a URL}
export WORK=${WORK:?set WORK to a shared directory for this run}
export SHARDS=${SHARDS:-8}
export SHARD_MEMORY=${SHARD_MEMORY:-4GiB}
export IDRISK_FLAGS=${IDRISK_FLAGS:-}
facts=$(sbatch --parsable --export=ALL "$here/facts.sbatch")
shards=$(sbatch --parsable --export=ALL --dependency="afterok:$facts" --array="1-$SHARDS" \
  "$here/shard.sbatch")
merge=$(sbatch --parsable --export=ALL --dependency="afterok:$shards" "$here/merge.sbatch")
echo "submitted: facts $facts, shards $shards (array 1-$SHARDS), merge $merge → $WORK/run"
