#!/usr/bin/env python3
"""Generates apiserver/src/protobuf/schema_table.rs: the Kubernetes protobuf schema of every
built-in kind ferrokube serves, as a table the codec walks.

Sources (read from the local cargo registry; k8s-openapi is a workspace dependency, k8s-pb is
not: fetch it once with `cargo new /tmp/pb && cd /tmp/pb && cargo add k8s-pb@=0.9.0 && cargo fetch`):
  - k8s-pb 0.9.0 (prost structs generated from upstream's generated.proto): messages, field
    tags, wire types, nested message types, repeated and map fields;
  - k8s-openapi 0.29.0, v1_33 (generated from upstream's OpenAPI): JSON property names and
    which properties are required (non-Option), and the kinds' apiVersion/kind;
  - pointers.txt beside this script: which optional scalar fields are Go pointers (upstream
    keeps an explicit zero of those in JSON; a zero non-pointer `omitempty` field is dropped).

Run from the workspace root:  python3 hack/protobuf-schema/gen.py && cargo fmt --all
"""

import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "apiserver/src/protobuf/schema_table.rs")
REGISTRY = os.path.expanduser(os.environ.get("CARGO_HOME", "~/.cargo")) + "/registry/src/*/"


def crate_dir(name):
    found = sorted(glob.glob(REGISTRY + name))
    if not found:
        sys.exit(f"{name} is not in the cargo registry: fetch it first (see the docstring)")
    return found[-1]


PB = crate_dir("k8s-pb-0.9.0") + "/src"
OA = crate_dir("k8s-openapi-0.29.0") + "/src/v1_33"

# Proto packages served, as (k8s-pb module path, apiVersion-style key of the table).
API_GROUPS = {
    "core/v1": "v1",
    "apps/v1": "apps/v1",
    "batch/v1": "batch/v1",
    "autoscaling/v1": "autoscaling/v1",
    "autoscaling/v2": "autoscaling/v2",
    "policy/v1": "policy/v1",
    "rbac/v1": "rbac.authorization.k8s.io/v1",
    "coordination/v1": "coordination.k8s.io/v1",
    "discovery/v1": "discovery.k8s.io/v1",
    "networking/v1": "networking.k8s.io/v1",
    "storage/v1": "storage.k8s.io/v1",
    "scheduling/v1": "scheduling.k8s.io/v1",
    "node/v1": "node.k8s.io/v1",
    "certificates/v1": "certificates.k8s.io/v1",
    "events/v1": "events.k8s.io/v1",
    "admissionregistration/v1": "admissionregistration.k8s.io/v1",
    "flowcontrol/v1": "flowcontrol.apiserver.k8s.io/v1",
    "authentication/v1": "authentication.k8s.io/v1",
    "authorization/v1": "authorization.k8s.io/v1",
}
PACKAGES = {"api/" + k: v for k, v in API_GROUPS.items()}
PACKAGES.update(
    {
        "apimachinery/pkg/apis/meta/v1": "meta.k8s.io/v1",
        "apimachinery/pkg/runtime": "runtime",
        "apimachinery/pkg/util/intstr": "intstr",
        "apimachinery/pkg/api/resource": "resource",
        "apiextensions_apiserver/pkg/apis/apiextensions/v1": "apiextensions.k8s.io/v1",
    }
)

# Messages with their own JSON form (see protobuf/codec.rs).
SPECIAL = {
    "meta.k8s.io/v1/Time": "Time",
    "meta.k8s.io/v1/MicroTime": "MicroTime",
    "meta.k8s.io/v1/Duration": "Duration",
    "meta.k8s.io/v1/FieldsV1": "RawJson",
    "meta.k8s.io/v1/Verbs": "StringList",
    "runtime/RawExtension": "RawJson",
    "intstr/IntOrString": "IntOrString",
    "resource/Quantity": "Quantity",
    "resource/QuantityValue": "Quantity",
    "apiextensions.k8s.io/v1/JSON": "RawJson",
    "apiextensions.k8s.io/v1/JSONSchemaPropsOrArray": "SchemaOrArray",
    "apiextensions.k8s.io/v1/JSONSchemaPropsOrBool": "SchemaOrBool",
    "apiextensions.k8s.io/v1/JSONSchemaPropsOrStringArray": "SchemaOrStringArray",
    "authentication.k8s.io/v1/ExtraValue": "StringList",
    "authorization.k8s.io/v1/ExtraValue": "StringList",
    "certificates.k8s.io/v1/ExtraValue": "StringList",
}

# JSON names of messages k8s-openapi lacks (options kinds), where lowerCamelCase of k8s-pb's
# snake_case name is not upstream's spelling.
JSON_NAMES = {
    "v1/PodLogOptions.insecureSkipTlsVerifyBackend": "insecureSkipTLSVerifyBackend",
    "apiextensions.k8s.io/v1/ConversionRequest.desiredApiVersion": "desiredAPIVersion",
}

SCALARS = {
    "string": "Str",
    "bool": "Bool",
    "int32": "I32",
    "int64": "I64",
    "double": "F64",
    "bytes": "Bytes",
}

FIELD_RE = re.compile(
    r"#\[prost\((?P<attrs>[^\]]*?)tag = \"(?P<tag>\d+)\"\)\]\s*pub (?P<name>(?:r#)?\w+):\s*(?P<ty>[^;]*?),\n(?=\s*(?:///|#\[|$))",
    re.S,
)
STRUCT_RE = re.compile(r"pub struct (\w+) \{(\}|.*?\n\})", re.S)


# k8s-pb field names k8s-openapi spells differently.
ALIASES = {"ref": "refpath"}


def norm(name):
    n = name.replace("r#", "").replace("_", "").lower()
    return ALIASES.get(n, n)


def resolve(module, path):
    """Resolves a Rust type path written in `module` to (package, message)."""
    path = re.sub(r"\s+", "", path)
    parts = path.split("::")
    mod = module.split("/")
    while parts and parts[0] == "super":
        mod = mod[:-1]
        parts = parts[1:]
    return "/".join(mod + parts[:-1]), parts[-1]


def inner_type(ty):
    ty = re.sub(r"\s+", "", ty)
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while ty.startswith(wrapper):
            ty = ty[len(wrapper) : -1].rstrip(",")
    return ty


def parse_pb():
    messages = {}  # key "<pkgkey>/<Name>" (k8s-pb spelling) -> dict
    for pkg, key in PACKAGES.items():
        text = open(f"{PB}/{pkg}/mod.rs").read()
        for sm in STRUCT_RE.finditer(text):
            name, body = sm.group(1), sm.group(2).rstrip("}") + "\n"
            fields = []
            for fm in FIELD_RE.finditer(body):
                attrs = fm.group("attrs").replace('bytes = "vec"', "bytes")
                ty = fm.group("ty")
                f = {"tag": int(fm.group("tag")), "rust": fm.group("name"), "msg": None}
                mm = re.match(r'btree_map = "string, (\w+)"', attrs.strip())
                if mm:
                    f["card"] = "Map"
                    vt = mm.group(1)
                    if vt == "message":
                        vty = re.sub(r"\s+", "", ty)
                        vty = vty[vty.index(",") + 1 : -1].rstrip(",")
                        f["msg"] = resolve(pkg, vty)
                        f["kind"] = "Msg"
                    else:
                        f["kind"] = SCALARS[vt]
                else:
                    words = [w.strip() for w in attrs.split(",") if w.strip()]
                    wt = words[0]
                    f["card"] = "Rep" if "repeated" in words else "One"
                    if wt == "message":
                        f["kind"] = "Msg"
                        f["msg"] = resolve(pkg, inner_type(ty))
                    else:
                        f["kind"] = SCALARS[wt]
                fields.append(f)
            messages[f"{key}/{name}"] = {"pkg": pkg, "key": key, "name": name, "fields": fields}
    return messages


def parse_openapi():
    """Definitions by lowercased "<pkgkey>/<name>": json names, required-ness, kind."""
    defs = {}
    inv = {}
    for pkg, key in PACKAGES.items():
        inv[pkg.replace("/", ".").replace("_", "-")] = key
    for path in glob.glob(f"{OA}/**/*.rs", recursive=True):
        text = open(path).read()
        m = re.match(r"// Generated from definition io\.k8s\.([\w.\-]+)\.(\w+)\n", text)
        if not m:
            continue
        pkg, name = m.group(1), m.group(2)
        if pkg not in inv:
            continue
        key = inv[pkg]
        sm = re.search(r"pub struct " + name + r" \{(.*?)\n\}", text, re.S)
        fields = {}
        if sm:
            for fm in re.finditer(r"\n    pub (\w+): (.*?),\n", sm.group(1) + "\n"):
                fields[fm.group(1)] = {"optional": fm.group(2).startswith("Option<"), "ty": fm.group(2)}
        json_names = dict(
            (rust, js) for js, rust in re.findall(r'"([^"]+)" => Field::Key_(\w+),', text)
        )
        for rust, f in fields.items():
            f["json"] = json_names.get(rust)
        km = re.search(r'const API_VERSION: &\'static str = "([^"]+)";.*?const KIND: &\'static str = "([^"]+)";', text, re.S)
        defs[f"{key}/{name}".lower()] = {
            "name": name,
            "fields": fields,
            "kind": (km.group(1), km.group(2)) if km else None,
        }
    return defs


def load_pointers():
    out = set()
    for line in open(os.path.join(HERE, "pointers.txt")):
        line = line.split("#")[0].strip()
        if line:
            out.add(line)
    return out


def lower_camel(rust):
    parts = rust.replace("r#", "").split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def main():
    pb = parse_pb()
    oa = parse_openapi()
    pointers = load_pointers()
    used_pointers = set()
    problems = []
    fallback = []

    def pb_key(ref):
        pkg, name = ref
        return f"{PACKAGES[pkg]}/{name}"

    # Upstream names: from k8s-openapi where it has the type, otherwise k8s-pb's.
    names = {}
    for k, m in pb.items():
        d = oa.get(k.lower())
        names[k] = f"{m['key']}/{d['name']}" if d else k
    # Fix up well-known spellings k8s-pb changed and k8s-openapi lacks.
    for k in list(names):
        low = k.lower()
        for special in SPECIAL:
            if special.lower() == low:
                names[k] = special

    # Inline (JSON-embedded) messages get JSON names and required-ness from the parent.
    inline_parent = {}
    for k, m in pb.items():
        d = oa.get(k.lower())
        if not d:
            continue
        by_norm = {norm(r): f for r, f in d["fields"].items()}
        for f in m["fields"]:
            if f["kind"] == "Msg" and f["card"] == "One" and norm(f["rust"]) not in by_norm:
                child = pb_key(f["msg"])
                child_fields = [norm(cf["rust"]) for cf in pb.get(child, {}).get("fields", [])]
                if child_fields and any(c in by_norm for c in child_fields):
                    f["inline"] = True
                    if not oa.get(child.lower()):
                        inline_parent.setdefault(child, k)

    rows = []
    order = sorted(pb, key=lambda k: names[k].lower())
    index = {k: i for i, k in enumerate(order)}
    for k in order:
        m = pb[k]
        upstream = names[k]
        d = oa.get(k.lower()) or oa.get(inline_parent.get(k, "").lower())
        by_norm = {norm(r): f for r, f in d["fields"].items()} if d else {}
        special = SPECIAL.get(upstream, "None")
        out_fields = []
        for f in sorted(m["fields"], key=lambda f: f["tag"]):
            of = by_norm.get(norm(f["rust"]))
            inline = f.get("inline", False)
            if inline:
                json = ""
                required = False
            elif of and of.get("json"):
                json = of["json"]
                required = not of["optional"]
            else:
                json = lower_camel(f["rust"])
                json = JSON_NAMES.get(f"{upstream}.{json}", json)
                required = False
                if special == "None" and d:
                    problems.append(f"{upstream}.{json}: not in k8s-openapi")
                fallback.append(f"{upstream}.{json}")
            msg = None
            if f["kind"] == "Msg":
                ck = pb_key(f["msg"])
                if ck not in index:
                    problems.append(f"{upstream}.{json}: unknown message {f['msg']}")
                    continue
                msg = index[ck]
            path = f"{upstream}.{json}"
            pointer = path in pointers
            if pointer:
                used_pointers.add(path)
                if f["kind"] == "Msg" or f["card"] != "One":
                    problems.append(f"pointers.txt: {path} is not a scalar field")
            keep = f["kind"] == "Msg" or required or pointer
            out_fields.append((f["tag"], json, f["kind"], msg, f["card"], keep, inline))
        rows.append((upstream, special, out_fields))

    for p in sorted(pointers - used_pointers):
        problems.append(f"pointers.txt: {p} matches no field")

    # Kinds served, for envelopes: (apiVersion, kind) -> message.
    kinds = []
    for k in order:
        d = oa.get(k.lower())
        if d and d["kind"]:
            kinds.append(names[k])

    with open(OUT, "w") as w:
        w.write("//! The Kubernetes protobuf schema of the built-in kinds, one entry per message.\n")
        w.write("//!\n")
        w.write("//! @generated by `python3 hack/protobuf-schema/gen.py` (then `cargo fmt --all`) from\n")
        w.write("//! k8s-pb 0.9.0, k8s-openapi 0.29.0 (v1_33) and hack/protobuf-schema/pointers.txt.\n")
        w.write("//! Do not edit by hand.\n\n")
        w.write("use super::schema::{Card::*, Field, Kind::*, Message, Special};\n\n")
        w.write("#[rustfmt::skip]\n")
        w.write("pub static MESSAGES: &[Message] = &[\n")
        for i, (upstream, special, fields) in enumerate(rows):
            w.write(f"    // {i}\n")
            w.write(f"    Message {{ name: \"{upstream}\", special: Special::{special}, fields: &[\n")
            for tag, json, kind, msg, card, keep, inline in fields:
                kind_s = f"Msg({msg})" if kind == "Msg" else kind
                w.write(
                    f"        Field {{ tag: {tag}, json: \"{json}\", kind: {kind_s}, card: {card}, keep_zero: {str(keep).lower()}, inline: {str(inline).lower()} }},\n"
                )
            w.write("    ] },\n")
        w.write("];\n")
    optional_scalars = []
    for upstream, special, fields in rows:
        for tag, json, kind, msg, card, keep, inline in fields:
            if card == "One" and kind != "Msg" and special == "None":
                optional_scalars.append(f"{upstream}.{json}{'' if not keep else '  [kept]'}")
    if os.environ.get("GEN_DEBUG"):
        # The optional scalars, to review against pointers.txt, and names not from k8s-openapi.
        with open(os.path.join(HERE, "scalars.txt.tmp"), "w") as w:
            w.write("\n".join(optional_scalars) + "\n")
        with open(os.path.join(HERE, "fallback.txt.tmp"), "w") as w:
            w.write("\n".join(fallback) + "\n")
    for p in problems:
        print("warning:", p, file=sys.stderr)
    print(f"{len(rows)} messages, {len(kinds)} kinds", file=sys.stderr)


if __name__ == "__main__":
    main()
