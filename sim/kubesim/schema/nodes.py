"""Merge metadata: SchemaNode (patch strategies, merge keys, list and map types) for strategic merge
patch and server-side apply."""

from .builtin import _builtin_def, _get_builtins, builtin_known


# Structured-merge-diff fills in list-map keys that carry a default in the real OpenAPI
# (kubernetes-validate's copy omits defaults); protocol is the one used in list-map keys.
_KEY_DEFAULTS = {"protocol": "TCP"}


class SchemaNode:
    """Merge metadata at one point of an object's schema (built-in or CRD)."""

    __slots__ = ("_schema", "_builtin")

    def __init__(self, schema, builtin):
        self._schema = schema
        self._builtin = builtin

    def __repr__(self):
        return f"SchemaNode({sorted(self._schema)!r})"

    @staticmethod
    def _make(schema, builtin):
        if not isinstance(schema, dict):
            return None
        if builtin:
            schema = _resolved(schema)
        return SchemaNode(schema, builtin)

    @property
    def raw(self):
        return self._schema

    def field(self, name):
        """Schema of property `name` (or of a map value when the object is a map)."""
        props = self._schema.get("properties")
        if props and name in props:
            return SchemaNode._make(props[name], self._builtin)
        return self.values()

    def values(self):
        additional = self._schema.get("additionalProperties")
        if isinstance(additional, dict):
            return SchemaNode._make(additional, self._builtin)
        return None

    def items(self):
        return SchemaNode._make(self._schema.get("items"), self._builtin)

    @property
    def patch_strategy(self):
        value = self._schema.get("x-kubernetes-patch-strategy")
        return tuple(value.split(",")) if value else ()

    @property
    def patch_merge_key(self):
        return self._schema.get("x-kubernetes-patch-merge-key")

    @property
    def list_type(self):
        return self._schema.get("x-kubernetes-list-type")

    @property
    def list_map_keys(self):
        return tuple(self._schema.get("x-kubernetes-list-map-keys") or ())

    @property
    def map_type(self):
        return self._schema.get("x-kubernetes-map-type")

    @property
    def is_map(self):
        return isinstance(self._schema.get("additionalProperties"), dict) and not self._schema.get("properties")

    @property
    def preserve_unknown(self):
        return bool(self._schema.get("x-kubernetes-preserve-unknown-fields"))

    def key_default(self, key):
        """Default of a list-map key field in the items of this list, or None."""
        items = self.items()
        if items is not None:
            sub = (items.raw.get("properties") or {}).get(key)
            if isinstance(sub, dict) and "default" in sub:
                return sub["default"]
        return _KEY_DEFAULTS.get(key)


_resolved_cache = {}


def _resolved(schema):
    """A property schema with its $ref followed; the property's own keys win (that is where
    the x-kubernetes-patch-* and list-type markers sit)."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    key = id(schema)
    found = _resolved_cache.get(key)
    if found is not None and found[0] is schema:
        return found[1]
    _, target = _get_builtins().resolve(ref)
    merged = dict(_resolved(target))
    merged.update((k, v) for k, v in schema.items() if k != "$ref")
    _resolved_cache[key] = (schema, merged)
    return merged


def node_for(api_version, kind, crd_schema=None):
    """Root SchemaNode for an object, or None when no schema is known."""
    if crd_schema is not None:
        return SchemaNode(crd_schema, builtin=False)
    def_name = _builtin_def(api_version, kind)
    if def_name is None:
        return None
    return SchemaNode(_resolved({"$ref": f"#/$defs/{def_name}"}), builtin=True)


def strategic_merge_supported(api_version, kind, crd_schema=None):
    """Strategic merge patch needs Go struct tags; only built-in kinds have them."""
    return crd_schema is None and builtin_known(api_version, kind)
