package testenv

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// SharedPostgres is the machine's Postgres the tests share (trust auth).
// CHATGATE_TEST_POSTGRES_ADMIN overrides it: a URL of its maintenance
// database.
const SharedPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func adminDSN() string {
	if v := os.Getenv("CHATGATE_TEST_POSTGRES_ADMIN"); v != "" {
		return v
	}
	return SharedPostgres
}

// DSN is the URL of database name on the shared Postgres.
func DSN(name string) string {
	return "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"
}

// EnsureDB creates database name on the shared Postgres unless it exists
// and returns its URL. The data of earlier runs stays: tests that use it
// make their own users and rooms.
func EnsureDB(t testing.TB, name string) string {
	t.Helper()
	admin(t, func(ctx context.Context, conn *pgx.Conn) {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		if err != nil && !strings.Contains(err.Error(), "42P04") && !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("create database %s: %v", name, err)
		}
	})
	return DSN(name)
}

// FreshDB drops database name on the shared Postgres (ending its sessions)
// and creates it empty, so its first user and room get id 1, and returns
// its URL.
func FreshDB(t testing.TB, name string) string {
	t.Helper()
	id := pgx.Identifier{name}.Sanitize()
	admin(t, func(ctx context.Context, conn *pgx.Conn) {
		for _, q := range []string{"DROP DATABASE IF EXISTS " + id + " WITH (FORCE)", "CREATE DATABASE " + id} {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	})
	return DSN(name)
}

func admin(t testing.TB, f func(context.Context, *pgx.Conn)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDSN())
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer conn.Close(context.Background())
	f(ctx, conn)
}

// CreateDB creates database name on the shared Postgres, dropping an
// earlier one of that name (ending its sessions): for a TestMain, which has
// no testing.TB; DropDB removes it at the end.
func CreateDB(name string) error {
	id := pgx.Identifier{name}.Sanitize()
	return adminExec("DROP DATABASE IF EXISTS "+id+" WITH (FORCE)", "CREATE DATABASE "+id)
}

// DropDB drops database name on the shared Postgres, ending its sessions.
func DropDB(name string) error {
	return adminExec("DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)")
}

func adminExec(queries ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDSN())
	if err != nil {
		return fmt.Errorf("testenv: postgres: %w", err)
	}
	defer conn.Close(context.Background())
	for _, q := range queries {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("testenv: %s: %w", q, err)
		}
	}
	return nil
}
