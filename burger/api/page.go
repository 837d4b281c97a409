// The live order page: one small page of plain JavaScript, embedded in the
// binary, that places orders and follows them through the stations from
// GET /orders/stream (live.go). The page, its assets and the menu are
// public, so a browser can load them before it has any credential; every
// order request it makes, the stream included, passes the same credential
// check as any other client's.

package api

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"time"

	"github.com/linecook/linecook/burger/orders"
)

//go:embed web
var web embed.FS

// asset is one of the page's files, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// pageCSP allows the page its own scripts, styles and requests only: no
// inline script, no other origin, no framing. A script injected through
// an order's content could not run, nor send the key anywhere.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// assets are the page's files by URL path.
var assets = func() map[string]asset {
	files := map[string]string{
		"/":            "web/index.html",
		"/live.js":     "web/live.js",
		"/live.css":    "web/live.css",
		"/favicon.svg": "web/favicon.svg",
	}
	types := map[string]string{
		".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
	}
	out := make(map[string]asset, len(files))
	for urlPath, name := range files {
		b, err := web.ReadFile(name)
		if err != nil {
			// Embedded at build time: a missing file is a build bug.
			panic("api: page asset: " + err.Error())
		}
		sum := sha256.Sum256(b)
		out[urlPath] = asset{body: b, contentType: types[path.Ext(name)], etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}()

// isPage reports whether a path is one of the page's public files or the
// menu, which any method but GET and HEAD is refused on.
func isPage(p string) bool {
	_, ok := assets[p]
	return ok || p == "/menu"
}

// page serves the page's files and the menu without credentials, and
// passes every other request on.
func (s *Server) page(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/menu" {
			writeJSON(w, http.StatusOK, menu{Items: orders.MenuNames()})
			return
		}
		a, ok := assets[r.URL.Path]
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		// Revalidated on every load (a 304 when unchanged), so a page
		// never outlives the API that serves it.
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.URL.Path == "/" {
			h.Set("Content-Security-Policy", pageCSP)
			h.Set("Referrer-Policy", "no-referrer")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

// menu is GET /menu's answer: what an order may contain.
type menu struct {
	Items []string `json:"items"`
}
