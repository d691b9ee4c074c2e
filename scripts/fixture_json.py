"""JSON for fixture files: one line per item of the top `levels` levels,
compact below, so that diffs of regenerated fixtures stay readable."""

import json


def dumps(value, levels=2, depth=0):
    if depth >= levels or not isinstance(value, (dict, list)) or not value:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    pad = " " * (depth + 1)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {dumps(v, levels, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad[1:] + "}"
    items = [pad + dumps(v, levels, depth + 1) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + pad[1:] + "]"
