// Package iampolicy builds IAM policy documents as typed values, so the
// components write least-privilege statements without string templates
// and the tests read them back with the same types.
package iampolicy

import (
	"encoding/json"
	"slices"
)

// Version is the IAM policy language version every document uses.
const Version = "2012-10-17"

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document. Action and Resource are always
// lists, which IAM accepts and which keeps readers to one shape.
type Statement struct {
	Sid       string                       `json:"Sid,omitempty"`
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal,omitempty"`
	Action    []string                     `json:"Action"`
	Resource  []string                     `json:"Resource,omitempty"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// New returns a document holding statements.
func New(statements ...Statement) Document {
	return Document{Version: Version, Statement: statements}
}

// Allow is an Allow statement of actions on resources. Empty resources are
// dropped, so an optional ARN that is absent cannot widen the statement.
func Allow(sid string, actions []string, resources ...string) Statement {
	return Statement{Sid: sid, Effect: "Allow", Action: actions,
		Resource: slices.DeleteFunc(slices.Clone(resources), func(r string) bool { return r == "" })}
}

// JSON renders the document.
func (d Document) JSON() string {
	b, err := json.Marshal(d)
	if err != nil {
		// Only strings and maps of strings: Marshal cannot fail.
		panic("iampolicy: " + err.Error())
	}
	return string(b)
}

// Parse reads a document rendered by JSON.
func Parse(s string) (Document, error) {
	var d Document
	err := json.Unmarshal([]byte(s), &d)
	return d, err
}
