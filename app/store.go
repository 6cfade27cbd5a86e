package main

import (
	"errors"
	"sort"
	"sync"
	"time"
)

// maxTodosPerUser caps memory use: login accepts any name, so without a cap
// one client could grow the process without bound.
const maxTodosPerUser = 1000

var errTooManyTodos = errors.New("todo limit reached (1000 per user)")

type todo struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	Done      bool      `json:"done"`
	CreatedAt time.Time `json:"created_at"`
}

// memStore keeps todos per user in process memory; they are lost on restart.
type memStore struct {
	mu     sync.Mutex
	nextID int64
	byUser map[string]map[int64]todo
}

func newMemStore() *memStore {
	return &memStore{byUser: make(map[string]map[int64]todo)}
}

// list returns the user's todos oldest first, and never nil, so the API
// answers [] rather than null.
func (s *memStore) list(user string) []todo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]todo, 0, len(s.byUser[user]))
	for _, t := range s.byUser[user] {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *memStore) create(user, title string, now time.Time) (todo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.byUser[user]
	if m == nil {
		m = make(map[int64]todo)
		s.byUser[user] = m
	}
	if len(m) >= maxTodosPerUser {
		return todo{}, errTooManyTodos
	}
	s.nextID++
	t := todo{ID: s.nextID, Title: title, CreatedAt: now.UTC()}
	m[t.ID] = t
	return t, nil
}

func (s *memStore) get(user string, id int64) (todo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byUser[user][id]
	return t, ok
}

// update changes only the fields that are non-nil.
func (s *memStore) update(user string, id int64, title *string, done *bool) (todo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byUser[user][id]
	if !ok {
		return todo{}, false
	}
	if title != nil {
		t.Title = *title
	}
	if done != nil {
		t.Done = *done
	}
	s.byUser[user][id] = t
	return t, true
}

func (s *memStore) remove(user string, id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byUser[user][id]; !ok {
		return false
	}
	delete(s.byUser[user], id)
	return true
}
