package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// envelope is a control message on the wire: {"type": kind, "body": {...}}.
type envelope struct {
	Type string          `json:"type"`
	Body json.RawMessage `json:"body"`
}

// EncodeMessage returns the JSON payload of a control frame for m. It validates m first, so a bug on this
// side shows up here rather than as a refusal by the peer.
func EncodeMessage(m Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.Kind(), err)
	}
	body, err := marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.Kind(), err)
	}
	payload, err := marshal(envelope{Type: m.Kind(), Body: body})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.Kind(), err)
	}
	if len(payload) > MaxControlPayload {
		return nil, fmt.Errorf("encode %s: %d bytes exceed the control frame limit of %d; split it",
			m.Kind(), len(payload), MaxControlPayload)
	}
	return payload, nil
}

// marshal is json.Marshal without HTML escaping (domain XML would triple in size) and without the newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// DecodeMessage parses a control frame's payload strictly: unknown kinds, unknown fields, trailing data and
// messages that fail Validate are errors wrapping ErrProtocol.
func DecodeMessage(payload []byte) (Message, error) {
	var env envelope
	if err := strictUnmarshal(payload, &env); err != nil {
		return nil, protocolErrorf("malformed control message: %v", err)
	}
	m := newMessage(env.Type)
	if m == nil {
		return nil, protocolErrorf("unknown control message type %.64q", env.Type)
	}
	body := []byte(env.Body)
	if len(body) == 0 || string(body) == "null" {
		body = []byte("{}")
	}
	if err := strictUnmarshal(body, m); err != nil {
		return nil, protocolErrorf("malformed %s message: %v", env.Type, err)
	}
	if err := m.Validate(); err != nil {
		return nil, protocolErrorf("invalid %s message: %v", env.Type, err)
	}
	return m, nil
}

func strictUnmarshal(data []byte, v any) error {
	if err := checkShape(data); err != nil {
		return err
	}
	if err := checkKeys(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// checkKeys closes two gaps of encoding/json: it matches field names case-insensitively and lets a repeated
// key override the first. Our keys are lowercase snake_case, so any other key, or a repeated one, is refused.
// Its stack of objects reuses its slices, so a frame of many small objects costs no allocation per object.
func checkKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object bool
		keys   []string // of this object so far; few, so a linear search is cheap
		expect bool     // next token in this object is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.object && top.expect {
			key, _ := tok.(string)
			if !isFieldName(key) || slices.Contains(top.keys, key) {
				return fmt.Errorf("field %.40q is repeated or not a lowercase field name", key)
			}
			if len(top.keys) == maxFields {
				return fmt.Errorf("an object with more than %d fields", maxFields)
			}
			top.keys = append(top.keys, key)
			top.expect = false
			continue
		}
		if top != nil && top.object {
			top.expect = true // a value was read: a key comes next
		}
		if d, ok := tok.(json.Delim); ok {
			if len(stack) < cap(stack) {
				stack = stack[:len(stack)+1]
				stack[len(stack)-1] = frame{object: d == '{', keys: stack[len(stack)-1].keys[:0], expect: d == '{'}
			} else {
				stack = append(stack, frame{object: d == '{', expect: d == '{'})
			}
		}
	}
}

// maxFields bounds the fields of one JSON object; the largest message type has 12.
const maxFields = 32

func isFieldName(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return k != ""
}

// WriteMessage writes m as one control frame.
func WriteMessage(w io.Writer, m Message) error {
	payload, err := EncodeMessage(m)
	if err != nil {
		return err
	}
	return WriteFrame(w, FrameControl, payload)
}

// ReadMessage reads one control frame and decodes it. An ErrorMsg is returned as a message, not an error; use
// [Expect] to turn it into a *RemoteError. It returns io.EOF when the peer closed the connection cleanly
// between messages.
func ReadMessage(r io.Reader) (Message, error) {
	return ReadMessageLimit(r, MaxControlPayload)
}

// ReadMessageLimit is ReadMessage with a smaller frame limit, such as MaxHelloPayload: a frame whose length
// field exceeds limit is refused before its payload is read.
func ReadMessageLimit(r io.Reader, limit int) (Message, error) {
	fr := NewFrameReader(r)
	fr.controlLimit = min(limit, MaxControlPayload)
	t, payload, err := fr.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read control message: %w", err)
	}
	if t != FrameControl {
		return nil, protocolErrorf("expected a control message, got a %s frame", t)
	}
	return DecodeMessage(payload)
}

// Expect reads one control message of type T (a pointer type such as *Hello). An ErrorMsg from the peer
// becomes a *RemoteError; any other message type is an ErrProtocol error.
func Expect[T Message](r io.Reader) (T, error) {
	return ExpectLimit[T](r, MaxControlPayload)
}

// ExpectLimit is Expect with the frame limit of [ReadMessageLimit].
func ExpectLimit[T Message](r io.Reader, limit int) (T, error) {
	var zero T
	m, err := ReadMessageLimit(r, limit)
	if err != nil {
		return zero, err
	}
	if t, ok := m.(T); ok {
		return t, nil
	}
	if e, ok := m.(*ErrorMsg); ok {
		return zero, e.Err()
	}
	return zero, protocolErrorf("expected a %s message, got %s", zero.Kind(), m.Kind())
}

// WriteError sends err to the peer as an ErrorMsg with the given code, its message cut to the limit.
func WriteError(w io.Writer, code string, err error) error {
	return WriteMessage(w, &ErrorMsg{Code: code, Message: truncateMessage(err.Error())})
}

// truncateMessage makes any error text a valid ErrorMsg message: invalid UTF-8 and control characters other
// than newline and tab become '?', and the result is cut at a character boundary to the size limit.
func truncateMessage(s string) string {
	var b strings.Builder
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || r == utf8.RuneError {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > messageLen-3 {
			b.WriteString("...")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Bounds on the shape of a control message's JSON, checked by a byte scan before any decoder runs. The
// deepest message hotzfs has, a list response (envelope, body, datasets, dataset, snapshots, snapshot), nests
// 6 deep; no array it sends has more than maxNames elements.
const (
	maxNesting  = 8
	maxElements = maxNames
)

// checkShape refuses JSON text whose objects and arrays nest more than maxNesting deep or whose arrays have
// more than maxElements elements. It counts brackets and commas outside strings and allocates nothing, so a
// hostile frame of a million '[' (or of a million tiny objects) is refused before a decoder builds a
// structure for each of them.
func checkShape(data []byte) error {
	var array [maxNesting + 1]bool // per open container: is it an array
	var elements [maxNesting + 1]int
	depth := 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth == maxNesting {
				return fmt.Errorf("objects and arrays nest more than %d deep", maxNesting)
			}
			depth++
			array[depth], elements[depth] = c == '[', 0
		case c == '}' || c == ']':
			depth = max(depth-1, 0)
		case c == ',' && array[depth]:
			if elements[depth]++; elements[depth] >= maxElements {
				return fmt.Errorf("an array of more than %d elements", maxElements)
			}
		}
	}
	return nil
}
