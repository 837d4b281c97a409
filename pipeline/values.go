package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Duration is a config duration: a Go duration string ("3s", "1m30s") or a
// number of seconds, as a JSON number or a string holding one (`pulumi
// config set --path` stores 90 as a number but 1.5 as a string).
type Duration struct{ time.Duration }

// maxSeconds is the longest duration a time.Duration holds, in seconds
// (about 292 years): a larger number would wrap around to a negative
// duration, and the error would quote that instead of what was written.
const maxSeconds = float64(math.MaxInt64) / float64(time.Second)

// UnmarshalJSON accepts "3s" or 3.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		if math.Abs(n) >= maxSeconds {
			return fmt.Errorf("%s seconds is out of range (use a Go duration such as \"3s\" or \"1m30s\")", b)
		}
		d.Duration = time.Duration(n * float64(time.Second))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("expected a duration such as \"3s\" or a number of seconds, got %s", b)
	}
	if n, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsNaN(n) && !math.IsInf(n, 0) {
		if math.Abs(n) >= maxSeconds {
			return fmt.Errorf("%s seconds is out of range (use a Go duration such as \"3s\" or \"1m30s\")", s)
		}
		d.Duration = time.Duration(n * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (use a Go duration such as \"3s\" or \"1m30s\")", s)
	}
	d.Duration = v
	return nil
}

// Int is a config integer: a JSON number, or a string holding one (what
// `pulumi config set --path` stores when it cannot tell).
type Int int

// UnmarshalJSON accepts 3 or "3".
func (i *Int) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return fmt.Errorf("expected a whole number, got %s", b)
		}
		n = json.Number(s)
	}
	v, err := strconv.Atoi(n.String())
	if err != nil {
		return fmt.Errorf("expected a whole number, got %s", b)
	}
	*i = Int(v)
	return nil
}

// Float is a config number, a JSON number or a string holding one.
type Float float64

// UnmarshalJSON accepts 2.5 or "2.5".
func (f *Float) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return fmt.Errorf("expected a number, got %s", b)
		}
		n = json.Number(s)
	}
	v, err := n.Float64()
	if err != nil {
		return fmt.Errorf("expected a number, got %s", b)
	}
	*f = Float(v)
	return nil
}

// Bool is a config boolean, true/false or "true"/"false".
type Bool bool

// UnmarshalJSON accepts true or "true".
func (v *Bool) UnmarshalJSON(b []byte) error {
	var x bool
	if err := json.Unmarshal(b, &x); err == nil {
		*v = Bool(x)
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		if x, err := strconv.ParseBool(s); err == nil {
			*v = Bool(x)
			return nil
		}
	}
	return fmt.Errorf("expected true or false, got %s", b)
}

// EnvValue is an environment variable's value in config: a string, or a
// number or boolean written as one (`pulumi config set --path` stores 3 as
// a number and true as a boolean), kept as written.
type EnvValue string

// UnmarshalJSON accepts "x", 3, 1.5 or true.
func (v *EnvValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = EnvValue(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*v = EnvValue(n.String())
		return nil
	}
	var x bool
	if err := json.Unmarshal(b, &x); err == nil {
		*v = EnvValue(strconv.FormatBool(x))
		return nil
	}
	return fmt.Errorf("expected a string, number or boolean, got %s", b)
}

// decodeStrict decodes raw (a JSON document) into v, rejecting unknown
// fields. key is the config key, for messages: errors name the exact path
// of the bad value inside it ("linecook:stages[1].scaling.min") and, for an
// unknown field, every field accepted there.
func decodeStrict(key, raw string, v any) error {
	if err := strictUnmarshal([]byte(raw), v); err != nil {
		return decodeError(key, []byte(raw), reflect.TypeOf(v), err)
	}
	return nil
}

func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("expected one value, found more after it")
	}
	return nil
}

// decodeError walks raw alongside t to the innermost value that fails to
// decode, since encoding/json names neither the path of an unknown field
// nor that of an error from a custom UnmarshalJSON.
func decodeError(path string, raw []byte, t reflect.Type, err error) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice:
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) == nil {
			for i, item := range items {
				if e := strictUnmarshal(item, reflect.New(t.Elem()).Interface()); e != nil {
					return decodeError(fmt.Sprintf("%s[%d]", path, i), item, t.Elem(), e)
				}
			}
		}
	case reflect.Struct:
		var fields map[string]json.RawMessage
		if json.Unmarshal(raw, &fields) == nil {
			known := jsonFields(t)
			for _, name := range sortedKeys(fields) {
				f, ok := known[name]
				if !ok {
					return &Error{Key: path, Value: name, Reason: "unknown field (valid: " + strings.Join(sortedKeys(known), ", ") + ")"}
				}
				if e := strictUnmarshal(fields[name], reflect.New(f.Type).Interface()); e != nil {
					return decodeError(path+"."+name, fields[name], f.Type, e)
				}
			}
		}
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	value := string(bytes.TrimSpace(raw))
	var s string
	if json.Unmarshal(raw, &s) == nil {
		value = s
	}
	switch {
	case errors.As(err, &typeErr):
		return &Error{Key: path, Value: value, Reason: "expected " + describeType(t)}
	case errors.As(err, &syntaxErr):
		return &Error{Key: path, Value: value, Reason: "not valid JSON: " + err.Error()}
	}
	return &Error{Key: path, Value: value, Reason: err.Error()}
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "a list"
	case reflect.Struct:
		return "an object"
	case reflect.Map:
		return "an object of strings"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	}
	return t.String()
}

func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = f
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
