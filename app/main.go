// Command tasky serves a small todo web app with a JSON API. Todos are kept
// in memory; see README.md.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const shutdownTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process globals, so tests can start and stop the
// whole service. It returns the exit status.
func run(ctx context.Context, getenv func(string) string, stderr io.Writer) int {
	// No timestamps: the container runtime adds its own.
	logger := log.New(stderr, "", 0)

	cfg, err := loadConfig(getenv)
	if err != nil {
		logger.Printf("tasky: fatal: %v; fix the variable and restart", err)
		return 1
	}

	key := cfg.jwtSecret
	if key == nil {
		logger.Print("tasky: warning: JWT_SECRET not set: using a random per-process key; sessions end when the process restarts")
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			logger.Printf("tasky: fatal: cannot generate a random JWT key: %v", err)
			return 1
		}
	} else if len(key) < 32 {
		logger.Print("tasky: warning: JWT_SECRET is shorter than 32 bytes; use a longer random value")
	}

	if cfg.mongoRedacted != "" {
		logger.Printf("tasky: MONGODB_URI is set (%s) but this version does not connect to MongoDB: storage is in memory, todos are lost on restart", cfg.mongoRedacted)
	} else {
		logger.Print("tasky: MONGODB_URI not set: storage is in memory, todos are lost on restart")
	}

	if st, err := os.Stat(cfg.assetsDir); err != nil || !st.IsDir() {
		logger.Printf("tasky: warning: assets directory %q not found; / will answer 404", cfg.assetsDir)
	}

	ln, err := net.Listen("tcp", ":"+cfg.port)
	if err != nil {
		logger.Printf("tasky: fatal: cannot listen on :%s: %v", cfg.port, err)
		return 1
	}

	srv := &http.Server{
		Handler:           newServer(key, cfg.assetsDir, logger).routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          logger,
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	// The actual port is logged so that PORT=0 (used by tests) is discoverable.
	logger.Printf("tasky %s listening on :%d (storage: %s)", version, ln.Addr().(*net.TCPAddr).Port, storageName)

	select {
	case err := <-serveErr:
		logger.Printf("tasky: fatal: server stopped: %v", err)
		return 1
	case <-ctx.Done():
	}

	logger.Print("tasky: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still running after the timeout were cut off: say so
		// through the exit status.
		logger.Printf("tasky: shutdown did not finish cleanly: %v", err)
		return 1
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Printf("tasky: server error during shutdown: %v", err)
		return 1
	}
	return 0
}
