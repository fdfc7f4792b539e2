package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Seed is the -seed file: users (with passwords, so expired tokens can be
// renewed), rooms and memberships created by earlier runs. Registration uses
// argon2id, so creating 10,000 users costs minutes; reusing them costs
// seconds.
type Seed struct {
	Version int        `json:"version"`
	BaseURL string     `json:"base_url"`
	Prefix  string     `json:"prefix"`
	Users   []SeedUser `json:"users"`
	Rooms   []SeedRoom `json:"rooms"`
}

// SeedUser is one account the tool drives.
type SeedUser struct {
	ID       int64   `json:"id"`
	Name     string  `json:"name"`
	Email    string  `json:"email"`
	Password string  `json:"password"`
	Token    string  `json:"token"`
	Rooms    []int64 `json:"rooms,omitempty"` // rooms it is known to have joined
}

// SeedRoom is one public room the tool created.
type SeedRoom struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

const seedVersion = 1

// loadSeed reads a seed file; a missing file is an empty seed.
func loadSeed(path string) (*Seed, error) {
	s := &Seed{Version: seedVersion}
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read seed: %w", err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("parse seed %s: %w", path, err)
	}
	if s.Version != seedVersion {
		return nil, fmt.Errorf("seed %s has version %d, want %d: delete it to start over", path, s.Version, seedVersion)
	}
	return s, nil
}

// saveSeed writes the seed atomically (temp file + rename) and privately:
// it holds passwords and tokens.
func saveSeed(path string, s *Seed) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return fmt.Errorf("encode seed: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".seed-*")
	if err != nil {
		return fmt.Errorf("write seed: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write seed: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write seed: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write seed: %w", err)
	}
	return nil
}

func (u *SeedUser) memberOf(room int64) bool {
	for _, r := range u.Rooms {
		if r == room {
			return true
		}
	}
	return false
}

// setupOnly is -payload: the users and rooms of a run, made ready (and the
// seed saved) exactly as run does, then written as CSV for another load
// tool (loadtest/artillery reads it), so both drive the same accounts,
// rooms and memberships.
func setupOnly(ctx context.Context, cfg *Config) error {
	logf := newLogf(cfg.Quiet, "")
	seed, err := loadSeed(cfg.SeedFile)
	if err != nil {
		return err
	}
	api := newAPIClient(newSourceDialer(cfg.SourceIPs, 10*time.Second), 64, nil)
	defer api.http.CloseIdleConnections()
	t0 := time.Now()
	users, rooms, err := setup(ctx, cfg, api, seed, logf)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if err := writePayload(cfg.PayloadFile, users, rooms); err != nil {
		return err
	}
	logf("setup: %d users, %d rooms ready in %s; payload %s", len(users), len(rooms), time.Since(t0).Round(time.Millisecond), cfg.PayloadFile)
	return nil
}

// writePayload writes one line per user, index,token,user_id,room_id, with
// user i in room i mod len(rooms) (setup's rule), no header. Mode 0600: it
// holds tokens.
func writePayload(path string, users []SeedUser, rooms []SeedRoom) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	for i, u := range users {
		rec := []string{strconv.Itoa(i), u.Token, strconv.FormatInt(u.ID, 10), strconv.FormatInt(rooms[i%len(rooms)].ID, 10)}
		if err := w.Write(rec); err != nil {
			return fmt.Errorf("write payload: %w", err)
		}
	}
	w.Flush()
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write payload: %w", err)
	}
	return os.Chmod(path, 0o600) // an existing file keeps its mode otherwise
}
