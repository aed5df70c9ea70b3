# shellcheck shell=sh
# harvcred's read of one node's credential files (src/node/gather.rs).
# Run as `sudo -n sh -c SCRIPT harvcred-gather "$SSH_CONNECTION"`; harvcred
# puts these settings in front of it:
#   R           the root the node's tree is under ('' on a node; a fixture in tests)
#   MAX_FILE    the largest file sent, in bytes
#   MAX_OUTPUT  the most file bytes sent for the node
#   FIXED       the fixed files read on every node (space-separated, no spaces inside)
#   SHADOW      the pseudo-path rancher's shadow line is reported under
# Output: one record a line, `TAG path`; `F` is followed by the content in
# base64 on the next line. POSIX sh and coreutils only (SLE Micro has both).
: "${R?}" "${MAX_FILE:?}" "${MAX_OUTPUT:?}" "${FIXED:?}" "${SHADOW:?}"
export LC_ALL=C
conn=${1-}
# shellcheck disable=SC2086 # split into address, port, address, port on purpose
set -- $conn
if [ -n "${2-}" ]; then
  # The key sshd accepted for this very connection (its log line names our port).
  l=$(journalctl _COMM=sshd -o cat -r -n 5000 --no-pager 2>/dev/null | grep -m1 -F "from $1 port $2 ssh2")
  [ -n "$l" ] && printf 'L %s\n' "$l"
fi
nl='
'
sent=0
emit() {
  if [ -f "$R$1" ]; then
    if [ ! -r "$R$1" ]; then printf 'E %s\n' "$1"; return; fi
    n=$(wc -c < "$R$1" 2>/dev/null) || n=0
    if [ "$n" -gt "$MAX_FILE" ]; then printf 'B %s\n' "$1"; return; fi
    if [ $((sent + n)) -gt "$MAX_OUTPUT" ]; then printf 'C %s\n' "$1"; return; fi
    sent=$((sent + n))
    printf 'F %s\n' "$1"; head -c "$MAX_FILE" < "$R$1" | base64 -w0; printf '\n'
  else printf 'M %s\n' "$1"; fi
}
printf 'T %s\n' "$(date +%s)"
printf 'H %s\n' "$(hostname)"
# shellcheck disable=SC2086 # the list is split into its paths on purpose
for f in $FIXED; do emit "$f"; done
for f in "$R"/oem/*.yaml "$R"/oem/*.yml; do [ -e "$f" ] && emit "${f#"$R"}"; done
t="$R"/var/lib/rancher/rke2/server/tls
crts=$(find "$t" "$t"/etcd "$t"/kube-controller-manager "$t"/kube-scheduler "$R"/var/lib/rancher/rke2/agent \
  -xdev -maxdepth 1 -type f -name '*.crt' ! -name "*$nl*" 2>/dev/null | sort)
while IFS= read -r f; do [ -n "$f" ] && emit "${f#"$R"}"; done <<EOT
$crts
EOT
line=$(grep '^rancher:' "$R"/etc/shadow 2>/dev/null)
if [ -n "$line" ]; then printf 'F %s\n' "$SHADOW"; printf '%s' "$line" | base64 -w0; printf '\n'
elif [ -r "$R"/etc/shadow ]; then printf 'M %s\n' "$SHADOW"
else printf 'E %s\n' "$SHADOW"; fi
