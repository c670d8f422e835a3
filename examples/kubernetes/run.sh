#!/bin/bash
# Runs a sharded idrisk run on Kubernetes: the facts Job, then the Indexed Job of shards,
# then the merge Job, each applied when the one before it completed.
#
#   IMAGE=registry.example/idrisk:0.1 RUN=2026-12-06 SHARDS=16 PARALLELISM=8 \
#   INPUT=az://signins/dataset/ OUTPUT=az://idrisk-runs/2026-12-06 ./run.sh
#
# The ConfigMap idrisk-storage holds AZURE_STORAGE_ACCOUNT_NAME (or the AWS_*/GOOGLE_*
# settings for s3:// and gs://); credentials come from workload identity. INPUT may also be
# a path on a shared volume mounted into the pods.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export IMAGE=${IMAGE:?set IMAGE to an image with idrisk on its PATH}
export RUN=${RUN:?set RUN to a name for this run (lowercase, digits, dashes)}
export INPUT=${INPUT:?set INPUT to the sign-ins (a dataset or archive URL)}
export OUTPUT=${OUTPUT:?set OUTPUT to where the run writes (a URL or shared path)}
export SHARDS=${SHARDS:-8}
export PARALLELISM=${PARALLELISM:-$SHARDS}
vars='${IMAGE} ${RUN} ${INPUT} ${OUTPUT} ${SHARDS} ${PARALLELISM}'
for step in facts shards merge; do
  envsubst "$vars" < "$here/$step-job.yaml" | kubectl apply -f -
  kubectl wait --for=condition=complete --timeout=6h "job/idrisk-$step-$RUN"
done
echo "run $RUN done: $OUTPUT/run (report: $OUTPUT/run/report.html)"
