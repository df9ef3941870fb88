#!/usr/bin/env python3
r"""Generates apiserver/src/schema/facts_table.rs: what k8s-openapi's schemas do not carry.

ferrokube's one schema source is k8s-openapi 0.29 (v1_33): its `schemars` impls give every
definition's properties, types, formats and descriptions. They do not carry upstream's
Kubernetes extensions, so this script records those facts beside them:
  - each definition's `required` list as upstream publishes it (k8s-openapi marks every
    non-Option field required, e.g. `metadata` of every kind);
  - `x-kubernetes-group-version-kind` of each kind;
  - `x-kubernetes-map-type` of definitions and properties;
  - per property `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
    `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key`, which strategic merge
    patch, server-side apply and kubectl's client-side apply all read;
  - per property of a `+enum` type, its `enum` values (on the property, on its list items or on
    its map values) and the "Possible enum values:" paragraph upstream appends to its
    description (`kubectl explain` prints both).
It also lists every k8s-openapi type that is a kind (it implements `k8s_openapi::Resource`),
so the apiserver can ask schemars for the schema of each kind it serves.

Sources:
  - the v1.33 definitions of the `kubernetes-validate` PyPI package (JSON schema converted from
    upstream's OpenAPI, keeping the x-kubernetes-* extensions):
      pip download --no-deps -d /tmp/kv kubernetes-validate==1.37.0
    then pass the wheel (or an extracted `_definitions.json`) as the first argument;
  - the enums, from the `kubernetes-models` npm package 4.5.0 ("Update schema version to
    v1.33.0"; sha512-rzGZiQmjGmvi/9e8NwnoR7It04WG7nsswFLXxyEdMmg/Yyy8ONHTb+18vvBqbS3OLpcDILzK9wsZuzShniJvGw==):
      npm pack --pack-destination /tmp/kv kubernetes-models@4.5.0
    then pass the tarball (or its extracted `package` folder) as the second argument.
    Upstream's checked-in snapshot (api/openapi-spec) omits enums on purpose (kubernetes PR
    #109178), and so does everything generated from it (kubernetes-validate, k8s-openapi, the
    client libraries); a running v1.33 apiserver serves them (feature OpenAPIEnums, beta and on).
    kubernetes-models is generated from a running v1.33.0 apiserver's /openapi/v2 (envtest, see
    tommy351/kubernetes-openapi-spec): each property's TypeScript type is the union of its enum
    values and its JSDoc is its description, with `*` escaped as `\*` (and `*/` as `\*\/`). The script checks every
    description it reads there against kubernetes-validate's (they agree once the enum paragraph
    is cut off, as upstream's snapshot cuts it) and each paragraph's values against the union.
    It only knows the definitions such an apiserver serves by default: alpha (and off-by-default
    beta) versions get no enums; apimachinery's types (`@kubernetes-models/apimachinery`) have
    none. Upstream's v3 `default`s are in neither source, so they are not recorded.
  - k8s-openapi 0.29.0 in the local cargo registry (a workspace dependency).

Run from the workspace root:
  python3 hack/openapi-schema/gen.py /tmp/kv/kubernetes_validate-1.37.0-py3-none-any.whl \
      /tmp/kv/kubernetes-models-4.5.0.tgz
  rustfmt apiserver/src/schema/facts_table.rs
"""

import glob
import json
import os
import re
import sys
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "apiserver/src/schema/facts_table.rs")
REGISTRY = os.path.expanduser(os.environ.get("CARGO_HOME", "~/.cargo")) + "/registry/src/*/"
DEFINITIONS = "kubernetes_validate/kubernetes-json-schema/v1.33.0-local/_definitions.json"
ENUM_HEADER = "Possible enum values:"
# A TypeScript string literal, as kubernetes-models writes enum values (JSON escapes).
LITERAL = r'"(?:[^"\\]|\\.)*"'
UNION = re.compile(rf"^{LITERAL}(?: \| {LITERAL})*$")

PROPERTY_EXTENSIONS = [
    ("x-kubernetes-list-type", "list_type"),
    ("x-kubernetes-list-map-keys", "list_map_keys"),
    ("x-kubernetes-patch-strategy", "patch_strategy"),
    ("x-kubernetes-patch-merge-key", "patch_merge_key"),
    ("x-kubernetes-map-type", "map_type"),
]


def load_definitions(path):
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            doc = json.loads(z.read(DEFINITIONS))
    else:
        with open(path) as f:
            doc = json.load(f)
    return doc.get("$defs") or doc["definitions"]


def typescript_files(path):
    """(name, text) of every `.d.ts` file of kubernetes-models, in name order."""
    if os.path.isdir(path):
        names = sorted(glob.glob(os.path.join(path, "**/*.d.ts"), recursive=True))
        out = []
        for n in names:
            with open(n) as f:
                out.append((os.path.relpath(n, path), f.read()))
        return out
    with tarfile.open(path) as t:
        members = sorted((m for m in t.getmembers() if m.name.endswith(".d.ts")), key=lambda m: m.name)
        return [(m.name, t.extractfile(m).read().decode()) for m in members]


def interfaces(text):
    """{exported interface name: (is a kind, {property: (description or None, TypeScript
    type)})} of one kubernetes-models declaration file (`export interface IPodSpec {...}` plus
    `export { IPodSpec as IIoK8sApiCoreV1PodSpec, ... }`). A kind's interface (`extends
    TypeMeta`) pins `apiVersion` and `kind` to its own values, undocumented: they are left out."""
    exported = {}
    for m in re.finditer(r"^export \{ (.*) \};$", text, re.M):
        for part in m.group(1).split(", "):
            local, _, name = part.partition(" as ")
            exported[local] = name
    out = {}
    for m in re.finditer(
        r"^export interface (\w+)( extends TypeMeta)? \{\n(.*?)^\}$", text, re.M | re.S
    ):
        local, kind, body = m.groups()
        lines = body.split("\n")
        props, doc, i = {}, None, 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if line == "    /**":
                doc = []
                while lines[i] != "     */":
                    if lines[i] != "     *" and not lines[i].startswith("     * "):
                        sys.exit(f"unexpected JSDoc line in {local}: {lines[i]!r}")
                    doc.append(lines[i][7:])
                    i += 1
                i += 1
                continue
            pm = re.match(r'^    "([^"]+)"\??: (.*)$', line)
            if not pm:
                continue
            name, ty = pm.groups()
            while ty.count("{") > ty.count("}") or not ty.endswith(";"):
                ty += "\n" + lines[i]
                i += 1
            description = None
            if doc is not None:
                description = "\n".join(doc).replace("\\*", "*").replace("*\\/", "*/")
            props[name] = (description, ty[:-1])
            doc = None
        if kind:
            for pinned in ("apiVersion", "kind"):
                if props.pop(pinned, (None,))[0] is not None:
                    sys.exit(f"{local}.{pinned} is documented: is it still pinned?")
        if local in exported:
            out[exported[local]] = (bool(kind), props)
    return out


def enum_of(ty):
    """(where, values) when a TypeScript type is an enum: a union of string literals, a list
    or a string map of them."""
    shapes = [
        ("Value", r"(.*)"),
        ("Items", r"Array<(.*)>"),
        ("MapValues", r"\{\n\s*\[key: string\]: (.*);\n\s*\}"),
    ]
    for at, pattern in shapes:
        m = re.fullmatch(pattern, ty, re.S)
        if m and UNION.match(m.group(1)):
            return at, [json.loads(v) for v in re.findall(LITERAL, m.group(1))]
    return None


def enums(defs, path):
    """{(definition, property): (where, values, paragraph or None)} from kubernetes-models,
    checked against kubernetes-validate's definitions `defs`."""
    by_key = {}
    for name in defs:
        key = re.sub(r"[^a-z0-9]", "", name.lower())
        if key in by_key:
            sys.exit(f"{name} and {by_key[key]} read the same in TypeScript")
        by_key[key] = name
    out = {}
    for file, text in typescript_files(path):
        for exported, (kind, props) in interfaces(text).items():
            # `IIoK8sApiCoreV1PodSpec`; files of versions v1.33 does not have are left over.
            name = by_key.get(exported[1:].lower())
            if name is None:
                continue
            known = defs[name].get("properties", {})
            if set(props) != set(known) - ({"apiVersion", "kind"} if kind else set()):
                sys.exit(f"{file}: {name} has properties {sorted(props)}, not {sorted(known)}")
            for prop, (description, ty) in sorted(props.items()):
                expected = known[prop].get("description")
                paragraph = None
                if description is not None and ENUM_HEADER in description:
                    cut = description.index(ENUM_HEADER)
                    paragraph = description[cut:]
                    description = description[:cut].removesuffix("\n\n") or None
                if description != expected:
                    sys.exit(f"{file}: the description of {name}.{prop} differs from upstream's")
                enum = enum_of(ty)
                if enum is None:
                    if paragraph is not None:
                        sys.exit(f"{file}: {name}.{prop} lists enum values but is no enum")
                    continue
                at, values = enum
                if paragraph is not None:
                    listed = []
                    for line in paragraph.split("\n")[1:]:
                        m = re.match(rf"^ - `({LITERAL})`", line)
                        if not m:
                            sys.exit(f"{file}: {name}.{prop}: unexpected enum line {line!r}")
                        listed.append(json.loads(m.group(1)))
                    if listed != values:
                        sys.exit(f"{file}: {name}.{prop} lists {listed}, its type {values}")
                out[(name, prop)] = (at, values, paragraph)
    return out


def rust_str(s):
    return json.dumps(s)


def opt(s):
    return "None" if s is None else f"Some({rust_str(s)})"


def strs(items):
    return "&[" + ", ".join(rust_str(i) for i in items) + "]"


def kinds():
    """(group, version, kind, rust path) of every k8s-openapi type implementing Resource."""
    found = sorted(glob.glob(REGISTRY + "k8s-openapi-0.29.0"))
    if not found:
        sys.exit("k8s-openapi 0.29.0 is not in the cargo registry: run `cargo fetch` first")
    base = found[-1] + "/src/v1_33/"
    out = []
    for path in sorted(glob.glob(base + "**/*.rs", recursive=True)):
        with open(path) as f:
            text = f.read()
        for m in re.finditer(
            r"impl crate::Resource for (\w+) \{\s*"
            r'const API_VERSION: &\'static str = "[^"]*";\s*'
            r'const GROUP: &\'static str = "([^"]*)";\s*'
            r'const KIND: &\'static str = "([^"]*)";\s*'
            r'const VERSION: &\'static str = "([^"]*)";',
            text,
        ):
            ty, group, kind, version = m.groups()
            module = os.path.dirname(os.path.relpath(path, base)).replace("/", "::")
            out.append((group, version, kind, f"k8s_openapi::{module}::{ty}"))
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    defs = load_definitions(sys.argv[1])
    enum_facts = enums(defs, sys.argv[2])
    lines = [
        "//! Generated by `hack/openapi-schema/gen.py` from upstream's v1.33 OpenAPI facts and",
        "//! k8s-openapi 0.29; do not edit.",
        "",
        "use super::facts::{Definition, Enum, EnumAt, Property};",
        "",
        "/// Definitions with upstream facts k8s-openapi's schemas lack, sorted by name.",
        "pub static DEFINITIONS: &[Definition] = &[",
    ]
    for name in sorted(defs):
        d = defs[name]
        props = []
        for pname, p in sorted(d.get("properties", {}).items()):
            ext = {field: p.get(key) for key, field in PROPERTY_EXTENSIONS}
            enum = enum_facts.get((name, pname))
            if all(v is None for v in ext.values()) and enum is None:
                continue
            if enum is None:
                enum_field = "None"
            else:
                at, values, paragraph = enum
                enum_field = (
                    f"Some(Enum {{ at: EnumAt::{at}, values: {strs(values)}, "
                    f"description: {opt(paragraph)} }})"
                )
            props.append(
                f"Property {{ name: {rust_str(pname)}, "
                f"list_type: {opt(ext['list_type'])}, "
                f"list_map_keys: {strs(ext['list_map_keys'] or [])}, "
                f"patch_strategy: {opt(ext['patch_strategy'])}, "
                f"patch_merge_key: {opt(ext['patch_merge_key'])}, "
                f"map_type: {opt(ext['map_type'])}, "
                f"enumeration: {enum_field} }}"
            )
        gvks = [
            f"({rust_str(g['group'])}, {rust_str(g['version'])}, {rust_str(g['kind'])})"
            for g in d.get("x-kubernetes-group-version-kind", [])
        ]
        lines.append(
            f"    Definition {{ name: {rust_str(name)}, "
            f"required: {strs(d.get('required', []))}, "
            f"map_type: {opt(d.get('x-kubernetes-map-type'))}, "
            f"gvks: &[{', '.join(gvks)}], "
            f"properties: &[{', '.join(props)}] }},"
        )
    lines.append("];")
    lines.append("")
    lines.append("/// Adds the schema of every k8s-openapi kind `wanted` accepts (by group, version, kind).")
    lines.append("pub fn add_kinds(")
    lines.append("    generator: &mut schemars::SchemaGenerator,")
    lines.append("    wanted: &dyn Fn(&str, &str, &str) -> bool,")
    lines.append(") {")
    for group, version, kind, path in kinds():
        lines.append(
            f"    if wanted({rust_str(group)}, {rust_str(version)}, {rust_str(kind)}) "
            f"{{ generator.subschema_for::<{path}>(); }}"
        )
    lines.append("}")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    with_enums = len({name for name, _ in enum_facts})
    print(f"wrote {OUT}: {len(defs)} definitions, {len(enum_facts)} enum properties in {with_enums} definitions")


if __name__ == "__main__":
    main()
