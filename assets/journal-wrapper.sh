# shellcheck shell=sh
# harvcred's live log stream of one node (src/node/stream.rs): runs
# `journalctl "$@"` (through `sudo -n` unless already root: the journal of
# system units needs it) and ends it when stdin reaches EOF, so dropping the
# stream leaves nothing behind on the node. stdin is kept on fd 3 because a
# background job's stdin is /dev/null. `wait` makes the wrapper end (closing
# harvcred's stdout) also when journalctl ends by itself, e.g. without
# `--follow` or on a bad argument.
exec 3<&0
s=; [ "$(id -u)" = 0 ] || s="sudo -n"
# shellcheck disable=SC2086 # $s is empty or `sudo -n`: split on purpose
$s journalctl "$@" </dev/null 3<&- & p=$!
{ cat <&3 >/dev/null; kill $p; } >/dev/null 2>&1 &
exec 3<&-
wait $p
