package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// source is a parsed config file: its name, its syntax tree, and where each value is, so that problems
// found at any stage can name a line and column.
type source struct {
	file   string
	body   *ast.MappingNode
	nodes  map[string]Pos // path ("jobs[0].retention.source.daily") → position of that value (or its key)
	labels map[Pos]string // position of a value → what it is, for messages (`job "guests": freeze_timeout`)
	failed map[Pos]bool   // values that could not be decoded; Validate stays quiet about them
	errs   []*Error       // problems found while checking keys and decoding
}

// parseSource parses data into a syntax tree. Syntax errors and duplicate keys fail here; the file must hold
// exactly one document whose top level is a mapping.
func parseSource(file string, data []byte) (*source, error) {
	src := &source{file: file, nodes: map[string]Pos{}, labels: map[Pos]string{}, failed: map[Pos]bool{}}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, src.yamlError(err)
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		return nil, &Error{File: file, Msg: "the file is empty; start from an example in " + ExamplesDir +
			" (hotzfs.yaml for a sender, receiver.yaml for a receiver)"}
	}
	if len(docs) > 1 {
		return nil, &Error{File: file, Pos: nodePos(docs[1].Body),
			Msg: "a second YAML document (after ---); a config file holds one document, remove the ---"}
	}
	body, ok := unwrap(docs[0].Body).(*ast.MappingNode)
	if !ok {
		return nil, &Error{File: file, Pos: nodePos(docs[0].Body),
			Msg: fmt.Sprintf("the top level is %s; it must be a mapping of keys (like \"jobs:\")", nodeWord(docs[0].Body))}
	}
	src.body = body
	src.nodes[""] = nodePos(body)
	return src, nil
}

// decode checks every key and the shape of every value against v's type, reporting all unknown keys and
// misshapen values at once and stopping there; then it decodes strictly into v. Values that fail to parse
// (durations, cron specs …) are collected in src.errs and decoding goes on; the returned error is only for
// problems that stop it.
func (src *source) decode(v any) error {
	w := walker{src: src}
	w.walk(src.body, reflect.TypeOf(v), "", place{})
	if len(src.errs) > 0 {
		return joinSorted(src.errs)
	}
	// The parser has refused repeated keys already; allowing them here lets a key override one that a
	// merge key (<<: *anchor) brings in.
	ctx := context.WithValue(context.Background(), sourceKey{}, src)
	dec := yaml.NewDecoder(bytes.NewReader(nil), yaml.Strict(), yaml.AllowDuplicateMapKey())
	if err := dec.DecodeFromNodeContext(ctx, src.body, v); err != nil {
		return joinSorted(append(src.errs, src.yamlError(err)))
	}
	return nil
}

// pos returns the position of the value at path, or of its nearest enclosing value that is in the file
// (a missing key is reported where its mapping is).
func (src *source) pos(path string) Pos {
	for {
		if p, ok := src.nodes[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return src.nodes[""]
		}
		path = path[:i]
	}
}

type sourceKey struct{}

// reject reports a value that does not parse: `job "guests": freeze_timeout "10x": unknown unit "x" …`
// (value is the text as written, or "" to leave it out). While a file is decoded the problem is collected
// (so decoding goes on and every bad value is reported) and nil is returned; otherwise it is returned.
func reject(ctx context.Context, node ast.Node, value, format string, args ...any) error {
	e := &Error{Pos: nodePos(node), Msg: fmt.Sprintf(format, args...)}
	if value != "" {
		e.Msg = fmt.Sprintf("%q: %s", value, e.Msg)
	}
	src, _ := ctx.Value(sourceKey{}).(*source)
	if src == nil {
		return e
	}
	switch l := src.labels[e.Pos]; {
	case l != "" && value != "":
		e.Msg = l + " " + e.Msg
	case l != "":
		e.Msg = l + ": " + e.Msg
	}
	e.File = src.file
	src.errs = append(src.errs, e)
	src.failed[e.Pos] = true
	return nil
}

// scalarText returns the text of a scalar node ("" for null); ok is false for mappings, lists and aliases.
func scalarText(node ast.Node) (text string, ok bool) {
	switch n := unwrap(node).(type) {
	case *ast.NullNode:
		return "", true
	case *ast.StringNode:
		return n.Value, true
	case ast.ScalarNode:
		return n.GetToken().Value, true
	}
	return "", false
}

// yamlError turns an error of the YAML library into an *Error that says what was expected where.
func (src *source) yamlError(err error) *Error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return &Error{File: src.file, Msg: err.Error()}
	}
	tk := ye.GetToken()
	pos := Pos{tk.Position.Line, tk.Position.Column}
	what := src.labels[pos]
	if what == "" {
		what = "value"
	}
	var msg string
	var (
		typeErr  *yaml.TypeError
		shapeErr *yaml.UnexpectedNodeTypeError
		overErr  *yaml.OverflowError
	)
	switch {
	case errors.As(err, &typeErr):
		msg = fmt.Sprintf("%s: expected %s, found %q", what, typeWord(typeErr.DstType), tk.Value)
	case errors.As(err, &shapeErr):
		msg = fmt.Sprintf("%s: expected %s, found %s", what, kindWord(shapeErr.Expected), kindWord(shapeErr.Actual))
	case errors.As(err, &overErr):
		msg = fmt.Sprintf("%s: %s is too large", what, overErr.SrcNum)
	default:
		msg = syntaxMessage(ye.GetMessage())
	}
	return &Error{File: src.file, Pos: pos, Msg: msg}
}

// syntaxMessage rewords the YAML library's messages where a user would otherwise have to decode them.
func syntaxMessage(m string) string {
	var key string
	var line, col int
	if n, _ := fmt.Sscanf(m, "mapping key %q already defined at [%d:%d]", &key, &line, &col); n == 3 {
		return fmt.Sprintf("duplicate key %q (first set at line %d, column %d); keep one of them", key, line, col)
	}
	if strings.HasPrefix(m, "unknown field ") {
		return "unknown key " + strings.TrimPrefix(m, "unknown field ")
	}
	return "YAML syntax: " + m
}

// typeWord names what a Go type takes, in YAML terms.
func typeWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping (key: value)"
	}
	return "a " + t.String()
}

// kindWord names a node's kind for messages.
func kindWord(t ast.NodeType) string {
	switch t {
	case ast.MappingType:
		return "a mapping (key: value)"
	case ast.SequenceType:
		return "a list"
	case ast.IntegerType, ast.FloatType:
		return "a number"
	case ast.BoolType:
		return "true or false"
	case ast.NullType:
		return "nothing"
	}
	return "a " + t.YAMLName()
}

// nodeWord names what a node is, for messages.
func nodeWord(n ast.Node) string { return kindWord(unwrap(n).Type()) }

// unwrap looks through anchors (&a) and tags (!!str) to the value they mark.
func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
}

// nodePos is where a node starts: for a block mapping its first key (the library's token is the first ':').
func nodePos(n ast.Node) Pos {
	if m, ok := unwrap(n).(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	if n == nil || n.GetToken() == nil {
		return Pos{}
	}
	p := n.GetToken().Position
	return Pos{p.Line, p.Column}
}
