package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
