package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/chatgate/chatgate/chatclient"
)

// setup makes sure cfg.Users users and cfg.Rooms rooms exist, user i being a
// member of room i mod rooms. It reuses what the seed holds, checks it still
// exists (the database may have been reset), creates the rest and saves the
// seed again.
func setup(ctx context.Context, cfg *Config, api *apiClient, seed *Seed, logf func(string, ...any)) ([]SeedUser, []SeedRoom, error) {
	base := cfg.URLs[0]
	if seed.Prefix == "" || seed.BaseURL != base {
		seed.Prefix = randomHex(4)
		seed.BaseURL = base
	}
	for len(seed.Users) < cfg.Users {
		i := len(seed.Users)
		seed.Users = append(seed.Users, SeedUser{
			Name:     fmt.Sprintf("lt-%s-%d", seed.Prefix, i),
			Email:    fmt.Sprintf("lt-%s-%d@loadtest.invalid", seed.Prefix, i),
			Password: randomHex(12),
		})
	}
	users := seed.Users[:cfg.Users]
	var reset atomic.Bool

	// Pass 1, cheap: tokens that still work need no argon2id.
	start := time.Now()
	needAuth := make([]bool, len(users))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range users {
		if users[i].Token == "" {
			needAuth[i] = true
			continue
		}
		g.Go(func() error {
			me, err := api.as(base, users[i].Token).Me(gctx)
			switch {
			case err == nil && me.ID == users[i].ID:
			case err == nil || isStatus(err, http.StatusUnauthorized):
				needAuth[i] = true
			default:
				return fmt.Errorf("check user %s: %w", users[i].Email, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}

	// Pass 2, expensive: login or register with bounded concurrency.
	var done atomic.Int64
	total := 0
	for _, n := range needAuth {
		if n {
			total++
		}
	}
	stopProgress := progress(logf, "users", &done, total)
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(cfg.SetupConc)
	for i := range users {
		if !needAuth[i] {
			continue
		}
		g.Go(func() error {
			defer done.Add(1)
			created, err := authUser(gctx, api, base, &users[i])
			if created {
				reset.Store(true)
			}
			return err
		})
	}
	err := g.Wait()
	stopProgress()
	if err != nil {
		return nil, nil, err
	}
	if total > 0 {
		logf("setup: %d users logged in or registered in %s", total, time.Since(start).Round(time.Millisecond))
	}

	rooms, err := ensureRooms(ctx, cfg, api, seed, users, &reset)
	if err != nil {
		return nil, nil, err
	}
	if reset.Load() {
		// New accounts or rooms mean the database changed under the seed:
		// its membership records may name ids that now mean other rooms.
		// Joining again is harmless (a member's join answers 200 or 409).
		for i := range seed.Users {
			seed.Users[i].Rooms = nil
		}
	}
	if err := ensureMemberships(ctx, cfg, api, users, rooms, logf); err != nil {
		return nil, nil, err
	}
	if err := saveSeed(cfg.SeedFile, seed); err != nil {
		return nil, nil, err
	}
	return users, rooms, nil
}

// authUser logs u in, or registers it when the account does not exist.
// created reports a new registration.
func authUser(ctx context.Context, api *apiClient, base string, u *SeedUser) (created bool, err error) {
	if u.ID != 0 {
		var a *chatclient.Auth
		err = withRetry(ctx, 8, func() (e error) { a, e = api.as(base, "").Login(ctx, u.Email, u.Password); return e })
		if err == nil {
			u.ID, u.Token = a.User.ID, a.Token
			return false, nil
		}
		if !isStatus(err, http.StatusUnauthorized) && !isStatus(err, http.StatusNotFound) {
			return false, fmt.Errorf("login %s: %w", u.Email, err)
		}
	}
	var a *chatclient.Auth
	err = withRetry(ctx, 8, func() (e error) { a, e = api.as(base, "").Register(ctx, u.Name, u.Email, u.Password); return e })
	if isStatus(err, http.StatusConflict) {
		err = withRetry(ctx, 8, func() (e error) { a, e = api.as(base, "").Login(ctx, u.Email, u.Password); return e })
		if err != nil {
			return false, fmt.Errorf("user %s exists but login failed: %w", u.Email, err)
		}
		u.ID, u.Token = a.User.ID, a.Token
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("register %s: %w", u.Email, err)
	}
	u.ID, u.Token, u.Rooms = a.User.ID, a.Token, nil
	return true, nil
}

// ensureRooms checks the seed's rooms and creates the missing ones; room r
// is created by user r.
func ensureRooms(ctx context.Context, cfg *Config, api *apiClient, seed *Seed, users []SeedUser, reset *atomic.Bool) ([]SeedRoom, error) {
	base := cfg.URLs[0]
	for len(seed.Rooms) < cfg.Rooms {
		seed.Rooms = append(seed.Rooms, SeedRoom{})
	}
	rooms := seed.Rooms[:cfg.Rooms]
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for r := range rooms {
		g.Go(func() error {
			if rooms[r].ID != 0 {
				_, err := api.as(base, users[r].Token).Room(gctx, rooms[r].ID)
				if err == nil {
					return nil
				}
				if !isStatus(err, http.StatusNotFound) && !isStatus(err, http.StatusForbidden) {
					return fmt.Errorf("check room %d: %w", rooms[r].ID, err)
				}
			}
			name := fmt.Sprintf("lt-%s-room-%d", seed.Prefix, r)
			var info *chatclient.Room
			err := withRetry(gctx, 8, func() (e error) { info, e = api.as(base, users[r].Token).CreateRoom(gctx, name, false); return e })
			if err != nil {
				return fmt.Errorf("create room %s: %w", name, err)
			}
			rooms[r] = SeedRoom{ID: info.ID, Name: name}
			reset.Store(true)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return rooms, nil
}

// ensureMemberships joins user i to room i mod rooms unless the seed says it
// already did.
func ensureMemberships(ctx context.Context, cfg *Config, api *apiClient, users []SeedUser, rooms []SeedRoom, logf func(string, ...any)) error {
	base := cfg.URLs[0]
	var mu sync.Mutex
	var done atomic.Int64
	todo := 0
	for i := range users {
		if !users[i].memberOf(rooms[i%len(rooms)].ID) {
			todo++
		}
	}
	if todo == 0 {
		return nil
	}
	stop := progress(logf, "joins", &done, todo)
	defer stop()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range users {
		room := rooms[i%len(rooms)].ID
		if users[i].memberOf(room) {
			continue
		}
		g.Go(func() error {
			defer done.Add(1)
			err := withRetry(gctx, 8, func() error { return api.as(base, users[i].Token).Join(gctx, room) })
			if err != nil && !isStatus(err, http.StatusConflict) {
				return fmt.Errorf("user %s join room %d: %w", users[i].Email, room, err)
			}
			mu.Lock()
			users[i].Rooms = append(users[i].Rooms, room)
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// progress logs done/total every 5 s until the returned stop is called.
func progress(logf func(string, ...any), what string, done *atomic.Int64, total int) (stop func()) {
	if total == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				logf("setup: %s %d/%d", what, done.Load(), total)
			}
		}
	}()
	return cancel
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed: " + err.Error()))
	}
	return hex.EncodeToString(b)
}
