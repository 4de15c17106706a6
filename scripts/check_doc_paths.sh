#!/usr/bin/env bash
# Checks that every repository path the docs name exists.
#   scripts/check_doc_paths.sh [DOC.md ...]      (default: README.md docs/*.md)
#
# What counts as a path:
#   - a word that starts with a top-level folder and a slash (`server/shard.cc`,
#     docs/wal.md, `tests/server/...`), in backticks, in a code block or in prose;
#   - the target of a relative markdown link, resolved from the doc's own folder
#     (`[wal](wal.md)` in docs/ is docs/wal.md; anchors are not checked).
# Forms:
#   - `engine/seat_engine.{h,cc}` is expanded: both files must exist;
#   - `<placeholder>` and `*` are globs: at least one file must match, unless git
#     ignores the path (generated output such as bench/results/raw/);
#   - a trailing `...` (`tests/server/...`) names the folder.
# Prints "DOC:LINE: missing PATH" for each one that does not exist; exits 1 if any.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -gt 0 ]; then docs=("$@"); else docs=(README.md docs/*.md); fi

# Emits "doc<TAB>line<TAB>path" for each candidate, paths relative to the repository root
# except link targets, which are emitted as "doc-folder/target".
extract() {
  awk '
    BEGIN {
      top = "(bench|client|cluster|common|docs|engine|fuzz|persistence|protocol|scripts|server|tests|tools|\\.ci)"
      pathre = "(^|[^A-Za-z0-9_./-])(\\./)?" top "/[A-Za-z0-9_./{}*<>+,-]*"
    }
    FNR == 1 {
      fenced = 0
      dir = FILENAME; sub(/[^\/]*$/, "", dir)   # "docs/" or ""
    }
    # Cuts a candidate at a comma outside braces and at trailing punctuation.
    function trim(p,   i, c, depth, out) {
      depth = 0; out = ""
      for (i = 1; i <= length(p); i++) {
        c = substr(p, i, 1)
        if (c == "{") depth++
        else if (c == "}") depth--
        else if (c == "," && depth <= 0) break
        out = out c
      }
      if (out ~ /\/\.\.\.$/) sub(/\.\.\.$/, "", out)   # tests/server/... -> tests/server/
      sub(/[.:]+$/, "", out)
      return out
    }
    {
      line = $0
      if (line ~ /^[ \t]*(```|~~~)/) { fenced = !fenced; next }

      # Words that start with a top-level folder, anywhere.
      s = line
      while (match(s, pathre)) {
        m = substr(s, RSTART, RLENGTH)
        s = substr(s, RSTART + RLENGTH)
        sub(/^[^A-Za-z0-9_.]/, "", m)
        sub(/^\.\//, "", m)
        m = trim(m)
        if (m != "") printf "%s\t%d\t%s\n", FILENAME, FNR, m
      }

      # Relative link targets, outside code.
      if (fenced) next
      s = line
      gsub(/`[^`]*`/, "", s)
      while (match(s, /\]\([^)]*\)/)) {
        t = substr(s, RSTART + 2, RLENGTH - 3)
        s = substr(s, RSTART + RLENGTH)
        sub(/[ \t]+".*$/, "", t)          # [x](path "title")
        gsub(/^<|>$/, "", t)
        if (t == "" || t ~ /^#/ || t ~ /^[A-Za-z][A-Za-z0-9+.-]*:/) continue
        sub(/#.*$/, "", t)
        printf "%s\t%d\t%s%s\n", FILENAME, FNR, dir, t
      }
    }
  ' "$@"
}

# Expands the first {a,b,...} of $1 (no nesting), recursively; prints one path per line.
expand_braces() {
  local p="$1"
  if [[ "$p" =~ ^([^{]*)\{([^{}]*)\}(.*)$ ]]; then
    local pre="${BASH_REMATCH[1]}" alts="${BASH_REMATCH[2]}" post="${BASH_REMATCH[3]}" alt
    local IFS=','
    for alt in $alts; do expand_braces "$pre$alt$post"; done
  else
    printf '%s\n' "$p"
  fi
}

# True if the path (which may hold * globs) exists in the work tree, or git ignores it.
path_ok() {
  local p="$1" norm
  norm="$(realpath -m --relative-to=. -- "$p")"
  case "$norm" in ../* | ..) return 1 ;; esac   # outside the repository
  if [[ "$norm" == *'*'* ]]; then
    compgen -G "$norm" >/dev/null && return 0
  else
    [ -e "$norm" ] && return 0
  fi
  git check-ignore -q --no-index -- "$norm" 2>/dev/null
}

missing=0
checked=0
while IFS=$'\t' read -r doc line path; do
  while IFS= read -r one; do
    glob="$(sed -E 's/<[^<>]*>/*/g' <<<"$one")"
    checked=$((checked + 1))
    if ! path_ok "$glob"; then
      echo "$doc:$line: missing $one"
      missing=$((missing + 1))
    fi
  done < <(expand_braces "$path")
done < <(extract "${docs[@]}")

if [ "$missing" -gt 0 ]; then
  echo "check_doc_paths: $missing of $checked paths named in the docs do not exist"
  exit 1
fi
echo "check_doc_paths: all $checked paths named in ${#docs[@]} docs exist"
