#!/bin/sh
# A demo task. Bistro calls it as: demo_task.sh NODE STATUS_PIPE JSON_ARGUMENT
# It logs a line, works for a moment, then reports its status on the pipe.
node="$1"
status_pipe="$2"
echo "working on node $node"
sleep "${DEMO_TASK_SECONDS:-1}"
echo "done with node $node" >&2
echo done > "$status_pipe"
