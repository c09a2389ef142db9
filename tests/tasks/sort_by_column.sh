#!/bin/sh
# sort_by_column.sh COLUMN — an example jobq task: reads CSV on stdin and
# writes it sorted by column COLUMN (1-based, byte order, stable), the
# header line first. Plain CSV only: a quoted field holding a comma or a
# line break is not handled.
set -eu
col=${1:?usage: sort_by_column.sh COLUMN}
IFS= read -r header || exit 0
printf '%s\n' "$header"
exec sort -s -t, -k"$col,$col"
