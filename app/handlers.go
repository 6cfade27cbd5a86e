package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	storageName    = "memory"
	maxBodyBytes   = 64 << 10
	maxUsernameLen = 64
	maxTitleLen    = 200
)

type server struct {
	store     *memStore
	key       []byte
	assetsDir string
	logger    *log.Logger
	started   time.Time
	// now is swappable so tests can issue tokens that are already expired.
	now func() time.Time
}

func newServer(key []byte, assetsDir string, logger *log.Logger) *server {
	return &server{
		store:     newMemStore(),
		key:       key,
		assetsDir: assetsDir,
		logger:    logger,
		started:   time.Now(),
		now:       time.Now,
	}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.handleHealth)
	mux.HandleFunc("/api/login", s.handleLogin)
	mux.HandleFunc("/api/todos", s.handleTodos)
	mux.HandleFunc("/api/todos/", s.handleTodo)
	// Unknown API paths get a JSON 404 rather than falling through to the
	// static file server's text one.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	mux.Handle("/", staticHandler(s.assetsDir))
	return s.logRequests(securityHeaders(mux))
}

func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]interface{}{
		"status":         "ok",
		"version":        version,
		"uptime_seconds": time.Since(s.started).Seconds(),
		"storage":        storageName,
	})
}

// handleLogin accepts any non-empty username and password: there is no user
// database, the token only separates one user's todos from another's.
func (s *server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	user := strings.TrimSpace(req.Username)
	if user == "" || req.Password == "" {
		writeError(w, http.StatusBadRequest, "username and password are required")
		return
	}
	if utf8.RuneCountInString(user) > maxUsernameLen {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("username must be at most %d characters", maxUsernameLen))
		return
	}
	token, err := signToken(s.key, user, s.now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not issue a token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]interface{}{
		"token":      token,
		"expires_in": int(tokenLifetime.Seconds()),
	})
}

func (s *server) handleTodos(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return
	}
	user, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, s.store.list(user))
		return
	}
	var req struct {
		Title string `json:"title"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	title, msg := cleanTitle(req.Title)
	if msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	t, err := s.store.create(user, title, s.now())
	if err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

func (s *server) handleTodo(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodPatch, http.MethodDelete) {
		return
	}
	user, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/api/todos/"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "todo not found")
		return
	}
	switch r.Method {
	case http.MethodGet:
		t, ok := s.store.get(user, id)
		if !ok {
			writeError(w, http.StatusNotFound, "todo not found")
			return
		}
		writeJSON(w, http.StatusOK, t)
	case http.MethodPatch:
		var req struct {
			Title *string `json:"title"`
			Done  *bool   `json:"done"`
		}
		if !decodeJSON(w, r, &req) {
			return
		}
		if req.Title == nil && req.Done == nil {
			writeError(w, http.StatusBadRequest, `nothing to update: send "done" and/or "title"`)
			return
		}
		if req.Title != nil {
			title, msg := cleanTitle(*req.Title)
			if msg != "" {
				writeError(w, http.StatusBadRequest, msg)
				return
			}
			req.Title = &title
		}
		t, ok := s.store.update(user, id, req.Title, req.Done)
		if !ok {
			writeError(w, http.StatusNotFound, "todo not found")
			return
		}
		writeJSON(w, http.StatusOK, t)
	case http.MethodDelete:
		if !s.store.remove(user, id) {
			writeError(w, http.StatusNotFound, "todo not found")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// authenticate returns the token's user, or writes a 401 and returns false.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	const prefix = "bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tasky"`)
		writeError(w, http.StatusUnauthorized, "missing bearer token")
		return "", false
	}
	c, err := verifyToken(s.key, strings.TrimSpace(h[len(prefix):]), s.now())
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tasky", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, err.Error())
		return "", false
	}
	return c.Sub, true
}

func cleanTitle(raw string) (string, string) {
	title := strings.TrimSpace(raw)
	if title == "" {
		return "", "title is required"
	}
	if utf8.RuneCountInString(title) > maxTitleLen {
		return "", fmt.Sprintf("title must be at most %d characters", maxTitleLen)
	}
	return title, ""
}

// allowMethods writes a 405 with an Allow header unless r uses one of methods.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	return false
}

// decodeJSON reads one JSON value into dst, or writes a 400/413 and returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst interface{}) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	err := dec.Decode(dst)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("trailing data")
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body is too large")
			return false
		}
		writeError(w, http.StatusBadRequest, "request body must be a single JSON object")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The page loads only its own script and stylesheet, so a strict
		// policy costs nothing and blunts any injected markup.
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

func staticHandler(dir string) http.Handler {
	files := http.FileServer(noDirListing{http.Dir(dir)})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		files.ServeHTTP(w, r)
	})
}

// noDirListing hides directories without an index.html so the server never
// prints a listing of whatever ends up in the assets directory.
type noDirListing struct{ fs http.FileSystem }

func (n noDirListing) Open(name string) (http.File, error) {
	f, err := n.fs.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		idx, err := n.fs.Open(path.Join(name, "index.html"))
		if err != nil {
			f.Close()
			return nil, os.ErrNotExist
		}
		idx.Close()
	}
	return f, nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// logRequests logs one line per request. Only method, escaped path (no query
// string: it may carry tokens), status and duration: headers and bodies hold
// credentials.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.logger.Printf("tasky: %s %s %d %.3fms", r.Method, r.URL.EscapedPath(), rec.status,
			float64(time.Since(start).Microseconds())/1000)
	})
}
