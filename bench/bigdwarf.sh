#!/usr/bin/env bash
# bench/bigdwarf.sh OUTDIR [UNITS] — a large C++ library with large DWARF, to measure the
# helper on debug information of the size big libraries ship (libLLVM's dbgsym is hundreds
# of MB): UNITS generated translation units (default 150), each with ten functions over
# unit-specific types that instantiate std::map, std::unordered_map, std::vector,
# std::sort, std::function, std::shared_ptr and std::ostringstream — heavy inlining and the
# libstdc++ type information every unit carries — compiled with g++ -O2 -g (two jobs; about
# 4 s of CPU per unit) and linked into one shared library. Writes:
#   OUTDIR/libbig.so                      the library with its DWARF (uncompressed sections)
#   OUTDIR/stripped/libbig.so             the same, stripped
#   OUTDIR/debug/.build-id/xx/rest.debug  its debug file with zlib-compressed sections, as
#                                         Debian's -dbgsym packages ship them
set -euo pipefail
out=${1:?usage: bench/bigdwarf.sh OUTDIR [UNITS]}
units=${2:-150}
mkdir -p "$out/src" "$out/obj" "$out/stripped"
python3 - "$out/src" "$units" <<'PY'
import sys
out, units = sys.argv[1], int(sys.argv[2])
head = """#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>
"""
for u in range(units):
    s = [head, f"namespace big{u} {{", """
template <typename K, typename V> struct Store {
  std::map<K, V> m; std::unordered_map<std::string, V> byName; std::vector<std::pair<K, V>> log;
  void put(const K &k, const V &v) { m[k] = v; log.emplace_back(k, v); }
  V get(const K &k) const { auto it = m.find(k); return it == m.end() ? V() : it->second; }
  void name(const std::string &n, const V &v) { byName[n] = v; }
  template <typename F> V fold(F f, V init) const { for (auto &p : m) init = f(init, p.second); return init; }
  std::string dump() const { std::ostringstream o; for (auto &p : log) o << p.first << '=' << p.second << ';'; return o.str(); }
};"""]
    for i in range(10):
        s.append(f"""
struct Item{i} {{ int a; long b; std::string c; bool operator<(const Item{i} &o) const {{ return a < o.a || (a == o.a && b < o.b); }} }};
static inline long mix{i}(long x) {{ return (x * 2654435761u) ^ (x >> 7); }}
long work{i}(int n, const std::string &s) {{
  Store<int, long> st; std::vector<Item{i}> items;
  for (int k = 0; k < n; k++) {{ st.put(k, mix{i}(k + (long)s.size())); items.push_back({{k, mix{i}(k), s + std::to_string(k)}}); }}
  std::sort(items.begin(), items.end());
  std::function<long(long, long)> add = [](long a, long b) {{ return a + b; }};
  auto sh = std::make_shared<std::map<std::string, Item{i}>>();
  for (auto &it : items) (*sh)[it.c] = it;
  st.name(s, (long)sh->size());
  return st.fold(add, 0) + (long)st.dump().size() + items.back().b;
}}""")
    s.append("}\n")
    open(f"{out}/u{u}.cpp", "w").write("\n".join(s))
PY
ls "$out/src"/*.cpp | xargs -P 2 -I{} sh -c 'o='"$out"'/obj/$(basename {} .cpp).o; [ -f "$o" ] || g++ -O2 -g -fPIC -c {} -o "$o"'
g++ -shared -o "$out/libbig.so" "$out"/obj/*.o -Wl,--build-id
id=$(readelf -n "$out/libbig.so" | awk '/Build ID/ {print $3; exit}')
mkdir -p "$out/debug/.build-id/${id:0:2}"
objcopy --only-keep-debug --compress-debug-sections=zlib "$out/libbig.so" "$out/debug/.build-id/${id:0:2}/${id:2}.debug"
strip --strip-debug -o "$out/stripped/libbig.so" "$out/libbig.so"
size -A "$out/libbig.so" | awk '$1 ~ /^\.debug_/ {d += $2} $1 == ".text" {t = $2} END {printf "libbig.so: .text %.1f MiB, debug sections %.1f MiB\n", t/1048576, d/1048576}'
