package burger

import (
	"context"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The stack's tests reach no registry: there is none at the repository
// URLs the mocks and the engine's stand-in make up. Every push is recorded
// instead; tools/image's tests push to a real (in-process) registry.
var pushes struct {
	sync.Mutex
	refs []string
}

func init() {
	pushImage = func(_ context.Context, idx v1.ImageIndex, ref string) error {
		if _, err := idx.Digest(); err != nil {
			return err
		}
		pushes.Lock()
		pushes.refs = append(pushes.refs, ref)
		pushes.Unlock()
		return nil
	}
}

// recordPushes forgets earlier pushes and returns the pushes made since.
func recordPushes(t *testing.T) func() []string {
	t.Helper()
	pushes.Lock()
	pushes.refs = nil
	pushes.Unlock()
	return func() []string {
		pushes.Lock()
		defer pushes.Unlock()
		return append([]string(nil), pushes.refs...)
	}
}
