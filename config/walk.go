package config

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// entityKinds names the entries of the top-level collections, for messages: `job "guests"`, `target "offsite"`.
var entityKinds = map[string]string{"jobs": "job", "targets": "target", "clients": "client"}

// place says where in a config a value is, in a user's words: an entity (`job "guests"`) and a field
// path inside it (`retention.source.daily`).
type place struct {
	entity string
	field  string
	kind   string // set on a top-level collection: what its entries are called
}

func (p place) sub(key string) place {
	if p.field == "" {
		return place{entity: p.entity, field: key}
	}
	return place{entity: p.entity, field: p.field + "." + key}
}

// label is the place as a message prefix: `job "guests": freeze_timeout`.
func (p place) label() string {
	switch {
	case p.entity == "":
		return p.field
	case p.field == "":
		return p.entity
	}
	return p.entity + ": " + p.field
}

// in is the place as a phrase: `in job "guests" under retention.source`.
func (p place) in() string {
	switch {
	case p.entity == "" && p.field == "":
		return "at the top level"
	case p.entity == "":
		return "under " + p.field
	case p.field == "":
		return "in " + p.entity
	}
	return "in " + p.entity + " under " + p.field
}

// walker goes over the syntax tree next to the Go type it will be decoded into, recording where each value
// is and reporting keys the type does not have.
type walker struct {
	src *source
}

var nodeUnmarshaler = reflect.TypeFor[yaml.NodeUnmarshalerContext]()

func (w *walker) walk(n ast.Node, t reflect.Type, path string, at place) {
	n = unwrap(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(nodeUnmarshaler) {
		return // a value type (duration, size, cron spec …) that parses itself
	}
	if !w.checkShape(n, t, at) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if m, ok := n.(*ast.MappingNode); ok {
			w.walkStruct(m, t, path, at)
		}
	case reflect.Map:
		if m, ok := n.(*ast.MappingNode); ok {
			for _, mv := range m.Values {
				key := keyText(mv)
				w.entry(mv, t.Elem(), join(path, key), w.childPlace(at, key, nil))
			}
		}
	case reflect.Slice:
		if s, ok := n.(*ast.SequenceNode); ok {
			for i, item := range s.Values {
				index := fmt.Sprintf("[%d]", i)
				itemAt := w.childPlace(at, index, item)
				w.record(path+index, nodePos(item), item, itemAt)
				w.walk(item, t.Elem(), path+index, itemAt)
			}
		}
	}
}

// checkShape reports a value that is not what the Go type takes (a list where a mapping belongs, "maybe"
// for a boolean), so that all such problems are reported together rather than the decoder's first.
func (w *walker) checkShape(n ast.Node, t reflect.Type, at place) bool {
	var ok bool
	switch n.(type) {
	case *ast.NullNode, *ast.AliasNode, nil:
		return true // nothing (the zero value), or an alias the decoder resolves
	case *ast.MappingNode:
		ok = t.Kind() == reflect.Struct || t.Kind() == reflect.Map
	case *ast.SequenceNode:
		ok = t.Kind() == reflect.Slice
	case *ast.BoolNode:
		ok = t.Kind() == reflect.Bool || t.Kind() == reflect.String
	case *ast.IntegerNode:
		ok = t.Kind() == reflect.Int || t.Kind() == reflect.String
	default:
		ok = t.Kind() == reflect.String
	}
	if !ok {
		found := nodeWord(n)
		if text, scalar := scalarText(n); scalar {
			found = fmt.Sprintf("%q", text)
		}
		msg := fmt.Sprintf("%s: expected %s, found %s", at.label(), typeWord(t), found)
		if h, isHinter := reflect.Zero(t).Interface().(shapeHinter); isHinter {
			if hint := h.shapeHint(n); hint != "" {
				msg += "; " + hint
			}
		}
		w.src.errs = append(w.src.errs, &Error{File: w.src.file, Pos: nodePos(n), Msg: msg})
	}
	return ok
}

// shapeHinter is a type that tells how to rewrite a value of the wrong shape, such as a form it once had.
type shapeHinter interface{ shapeHint(found ast.Node) string }

func (w *walker) walkStruct(m *ast.MappingNode, t reflect.Type, path string, at place) {
	fields, names := yamlFields(t)
	for _, mv := range m.Values {
		key := keyText(mv)
		if key == "<<" {
			continue // a merge key; the decoder checks what it brings in
		}
		ft, ok := fields[key]
		if !ok {
			w.src.errs = append(w.src.errs, &Error{File: w.src.file, Pos: nodePos(mv.Key),
				Msg: fmt.Sprintf("unknown key %q %s%s", key, at.in(), suggest(key, names))})
			continue
		}
		child := at.sub(key)
		if kind := entityKinds[key]; kind != "" && path == "" {
			child.kind = kind
		}
		w.entry(mv, ft, join(path, key), child)
	}
}

// entry records a mapping entry and walks its value. A scalar is found at the value; a mapping or a list at
// its key, which is the line a user looks for.
func (w *walker) entry(mv *ast.MappingValueNode, t reflect.Type, path string, at place) {
	pos := nodePos(mv.Key)
	switch unwrap(mv.Value).(type) {
	case *ast.MappingNode, *ast.SequenceNode, *ast.NullNode, nil:
	default:
		pos = nodePos(mv.Value)
	}
	w.record(path, pos, mv.Value, at)
	w.walk(mv.Value, t, path, at)
}

// record notes where the value at path is and what to call it.
func (w *walker) record(path string, pos Pos, value ast.Node, at place) {
	w.src.nodes[path] = pos
	w.src.labels[pos] = at.label()
	if value != nil {
		if vp := nodePos(value); vp != pos {
			w.src.labels[vp] = at.label()
		}
	}
}

// childPlace is the place of an entry of a collection: a named entity for the top-level collections (a job
// is named by its name key, or its number), the key or index below the current place otherwise.
func (w *walker) childPlace(at place, key string, item ast.Node) place {
	if at.kind == "" {
		if strings.HasPrefix(key, "[") {
			return place{entity: at.entity, field: at.field + key}
		}
		return at.sub(key)
	}
	if item == nil {
		return place{entity: fmt.Sprintf("%s %q", at.kind, key)}
	}
	if name, ok := mappingValue(item, "name"); ok && name != "" {
		return place{entity: fmt.Sprintf("%s %q", at.kind, name)}
	}
	var i int
	fmt.Sscanf(key, "[%d]", &i)
	return place{entity: fmt.Sprintf("%s #%d", at.kind, i+1)}
}

// mappingValue returns the scalar text of key in a mapping node.
func mappingValue(n ast.Node, key string) (string, bool) {
	m, ok := unwrap(n).(*ast.MappingNode)
	if !ok {
		return "", false
	}
	for _, mv := range m.Values {
		if keyText(mv) == key {
			return scalarText(mv.Value)
		}
	}
	return "", false
}

// keyText is a mapping key as written, without quotes.
func keyText(mv *ast.MappingValueNode) string {
	if s, ok := scalarText(mv.Key); ok {
		return s
	}
	return mv.Key.String()
}

// yamlFields maps a struct's YAML keys to their types; names lists the keys in declaration order.
func yamlFields(t reflect.Type) (fields map[string]reflect.Type, names []string) {
	fields = map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	return fields, names
}

// join appends a key to a path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
