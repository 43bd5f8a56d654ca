#!/usr/bin/env bash
# Drives the server's chat page (examples/server/chat_page.html) in headless Chromium: loads
# BASE_URL/?message=To%20be&max_tokens=16&temperature=0, which sends "To be" on load the way the
# Send button does, waits until the page marks the reply done (or failed), then saves
# OUT_DIR/chat_page.png (screenshot) and OUT_DIR/chat_page.html (the final DOM, as --dump-dom
# prints it) and checks: body data-state="done", a user bubble "To be", a non-empty #last-reply.
# Prints the reply. Exits 0 on success, 1 on a failed check, 2 on bad usage, 77 (skip) when
# Chromium is not installed.
#
# Usage: check_chat_page.sh BASE_URL OUT_DIR      e.g. http://127.0.0.1:8080 build/chat_page
# Environment: CHROMIUM (default: chromium), CHAT_PAGE_TIMEOUT (seconds, default 60).
#
# Why not --dump-dom with --virtual-time-budget: virtual time only waits for fetches whose
# response has not started, so a streamed reply is dumped half-written. Instead one Chromium
# run is driven over --remote-debugging-pipe (DevTools protocol, NUL-separated JSON on fds 3
# and 4): open the page, poll document.body.dataset.state, then take the screenshot and the
# DOM from that same page. Chromium is kept off the network: its background services are
# turned off, and what remains (sign-in, update checks) meets a proxy that refuses everything
# (Chromium never proxies loopback) and a resolver that resolves no host but BASE_URL's.
set -u
if [ $# -ne 2 ]; then
  echo "usage: $0 BASE_URL OUT_DIR" >&2
  exit 2
fi
base=${1%/}
out=$2
limit=${CHAT_PAGE_TIMEOUT:-60}
chromium=${CHROMIUM:-chromium}
url="$base/?message=To%20be&max_tokens=16&temperature=0"
tmp=

fail() {
  echo "FAIL: $*" >&2
  # What the page threw, if anything (Runtime.exceptionThrown events, collected by call()).
  if [ -s "$tmp/events" ] && grep -q '"method":"Runtime.exceptionThrown"' "$tmp/events"; then
    echo "exceptions in the page:" >&2
    grep '"method":"Runtime.exceptionThrown"' "$tmp/events" | grep -o '"description":"[^"]*"' | awk '!seen[$0]++' | head -n 5 | sed 's/^/  /' >&2
  fi
  exit 1
}
log_tail() { grep -v -e dbus -e '^$' "$tmp/chromium.log" | tail -n 15 | sed 's/^/  /'; }

case $base in
  http://127.*|http://localhost|http://localhost:*|http://\[::1\]*) ;;
  *) echo "FAIL: BASE_URL must be a loopback http:// URL (127.x.x.x, localhost or [::1]), not '$base'" >&2; exit 2 ;;
esac
hostport=${base#http://}
hostport=${hostport%%/*}
case $hostport in \[*) host=${hostport%%]*}] ;; *) host=${hostport%%:*} ;; esac
if ! command -v "$chromium" >/dev/null; then
  echo "SKIP: '$chromium' not found (Debian: apt-get install chromium; or set CHROMIUM)" >&2
  exit 77
fi
mkdir -p "$out" || fail "cannot create $out"
png="$out/chat_page.png"
dom="$out/chat_page.html"
rm -f "$png" "$dom"

tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then
    exec 5>&- 6<&-
    kill "$pid" 2>/dev/null  # timeout(1) passes the signal on to Chromium
    wait "$pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
trap '' PIPE  # a write to a Chromium that died fails instead of killing the script

mkfifo "$tmp/to_chromium" "$tmp/from_chromium"
# timeout(1) bounds the whole run even if this script is killed before its cleanup.
timeout -k 5 $((limit + 30)) "$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
  --user-data-dir="$tmp/profile" --remote-debugging-pipe --hide-scrollbars \
  --no-first-run --no-default-browser-check --disable-extensions --disable-sync \
  --disable-background-networking --disable-component-update --disable-default-apps \
  --disable-domain-reliability --disable-client-side-phishing-detection --disable-breakpad \
  --no-pings --dns-prefetch-disable --disable-features=Translate,OptimizationHints,MediaRouter \
  --proxy-server=http://127.0.0.1:9 --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE $host" \
  about:blank 3<"$tmp/to_chromium" 4>"$tmp/from_chromium" >"$tmp/chromium.log" 2>&1 &
pid=$!
exec 5>"$tmp/to_chromium" 6<"$tmp/from_chromium"
start=$SECONDS

# call METHOD PARAMS_JSON [SESSION]: sends one DevTools command, sets $reply to its answer
# (events that come in between go to $tmp/events). Fails the test if no answer comes within
# $answer_within seconds.
n=0
reply=
answer_within=20
call() {
  n=$((n + 1))
  printf '{"id":%d,"method":"%s","params":%s%s}\0' "$n" "$1" "$2" "${3:+,\"sessionId\":\"$3\"}" >&5 ||
    fail "Chromium is not running (see its log below)"$'\n'"$(log_tail)"
  while IFS= read -r -d '' -t "$answer_within" reply <&6; do
    case $reply in
      "{\"id\":$n,\"error\""*) fail "DevTools $1: $reply" ;;
      "{\"id\":$n,"*) return 0 ;;
      *) printf '%s\n' "$reply" >>"$tmp/events" ;;
    esac
  done
  fail "no answer to $1 within ${answer_within}s${hint:-} (Chromium's log below)"$'\n'"$(log_tail)"
}
field() { grep -o "\"$1\":\"[^\"]*\"" <<<"$reply" | head -n 1 | cut -d'"' -f4; }
evaluate() { call Runtime.evaluate "{\"expression\":\"$1\",\"returnByValue\":true}" "$session"; }

call Target.createTarget '{"url":"about:blank"}'
target=$(field targetId)
call Target.attachToTarget "{\"targetId\":\"$target\",\"flatten\":true}"
session=$(field sessionId)
[ -n "$session" ] || fail "could not attach to the page: $reply"
# In front (a background tab is throttled and never paints a screenshot), at a fixed size.
call Page.bringToFront '{}' "$session"
call Emulation.setDeviceMetricsOverride '{"width":900,"height":700,"deviceScaleFactor":1,"mobile":false}' "$session"
call Runtime.enable '{}' "$session"
# Page.navigate answers once the server has sent the page and it is committed.
answer_within=$limit hint=": the server did not answer GET $url"
call Page.navigate "{\"url\":\"$url\"}" "$session"
answer_within=20 hint=
error=$(field errorText)
[ -z "$error" ] || fail "could not load $url: $error (is the server running?)"

# Poll until the page says done or error. "nopage": loaded, but not the chat page; "idle" once
# loaded: its script did not send the message (it does so while the page loads).
probe="document.readyState !== 'complete' ? '' : document.getElementById('log') ? document.body.dataset.state : 'nopage'"
state=
while :; do
  evaluate "$probe"
  state=$(field value)
  case $state in done|error|nopage|idle) break ;; esac
  [ $((SECONDS - start)) -lt "$limit" ] || break
  sleep 0.25
done

# Screenshot and DOM of that same page, whatever the state, to look at when something failed.
call Page.captureScreenshot '{"format":"png"}' "$session"
field data | base64 -d >"$png" 2>/dev/null
# As base64, which needs no unescaping here: the DOM as --dump-dom prints it, in UTF-8.
evaluate "(() => { let s = ''; for (const b of new TextEncoder().encode('<!DOCTYPE html>\\\\n' + document.documentElement.outerHTML)) s += String.fromCharCode(b); return btoa(s); })()"
field value | base64 -d >"$dom" 2>/dev/null
call Browser.close '{}'
exec 5>&- 6<&-
wait "$pid" 2>/dev/null
pid=

echo "screenshot: $png"
echo "DOM:        $dom"
[ "$(head -c 4 "$png" 2>/dev/null | tail -c 3)" = PNG ] || fail "no screenshot was saved to $png"
[ -s "$dom" ] || fail "no DOM was saved to $dom"

html_text() { sed -e 's/<[^>]*>//g' -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&quot;/"/g' -e 's/&#39;/'"'"'/g' -e 's/&amp;/\&/g'; }
page_errors=$(grep -o '<div class="error">[^<]*</div>' "$dom" | html_text)
case $state in
  nopage) fail "$base/ did not serve the chat page (no #log element; is the server running?)" ;;
  error) fail "the page reported an error: ${page_errors:-(no message shown)}" ;;
  idle) fail "the page loaded but did not send the message" ;;
  done) ;;
  *) fail "no reply after ${limit}s (page state: '${state:-not loaded}')${page_errors:+; page error: $page_errors}" ;;
esac
grep -q '<body data-state="done"' "$dom" || fail "the DOM lacks <body data-state=\"done\">"
grep -q '<div class="msg user">To be</div>' "$dom" || fail "the DOM has no user bubble with 'To be'"
reply_html=$(tr '\n' '\r' <"$dom" | grep -o '<div class="msg assistant" id="last-reply">[^<]*</div>' | tr '\r' '\n')
[ -n "$reply_html" ] || fail "the DOM has no assistant bubble with id=\"last-reply\""
reply_text=$(html_text <<<"$reply_html")
[ -n "$reply_text" ] || fail "#last-reply is empty"
echo "reply: $reply_text"
echo "PASS: chat page streamed a reply in $((SECONDS - start))s"
