package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/chatgate/chatgate/chatcore/limits"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("chat", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("chat", parseHandler)
	// Before respond: a site-level respond would otherwise answer the
	// upgrade itself.
	httpcaddyfile.RegisterDirectiveOrder("chat", httpcaddyfile.Before, "respond")
}

// parseGlobalOption sets up the chat app. Syntax:
//
//	chat {
//	    postgres            <dsn>
//	    postgres_replica    <dsn>
//	    redis               <url>[,<url>...]
//	    redis_prefix        <string>
//	    secret              <string>
//	    secret_file         <path>
//	    previous_secrets    <secret>[,<secret>...]
//	    instance            <name>
//	    pool_size           <n>
//	    statement_timeout   <duration>
//	    slow_query          <duration>
//	    batch_max           <n>
//	    batch_workers       <n>
//	    token_ttl           <duration>
//	    password_memory_kib <n>
//	    password_time       <n>
//	    password_concurrency <n>
//	    password_queue      <n>|off
//	    recent_buffer       <n>
//	    start_timeout       <duration>
//	    files_dir           <path>
//	    unattached_file_ttl <duration>
//	    search_language     <regconfig>
//	}
//
// An option whose value is an empty environment variable may be given
// without an argument: it keeps its default.
func parseGlobalOption(d *caddyfile.Dispenser, _ any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "chat", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile reads the chat global option.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		name := d.Val()
		var val string
		hasVal := d.NextArg()
		if hasVal {
			val = d.Val()
		}
		if d.NextArg() {
			return d.ArgErr()
		}
		var err error
		switch name {
		case "postgres":
			a.Postgres = val
		case "postgres_replica":
			a.PostgresReplica = val
		case "redis":
			a.Redis = val
		case "redis_prefix":
			a.RedisPrefix = val
		case "secret":
			a.Secret = val
		case "secret_file":
			a.SecretFile = val
		case "previous_secrets":
			a.PreviousSecrets = val
		case "instance":
			a.Instance = val
		case "pool_size":
			a.PoolSize, err = optInt(val)
		case "statement_timeout":
			a.StatementTimeout, err = optDuration(val)
		case "slow_query":
			a.SlowQuery, err = optDuration(val)
		case "batch_max":
			a.BatchMax, err = optInt(val)
		case "batch_workers":
			a.BatchWorkers, err = optInt(val)
		case "token_ttl":
			a.TokenTTL, err = optDuration(val)
		case "password_memory_kib":
			var n int
			n, err = optInt(val)
			a.PasswordMemoryKiB = uint32(n)
		case "password_time":
			var n int
			n, err = optInt(val)
			a.PasswordTime = uint32(n)
		case "password_concurrency":
			a.PasswordConcurrency, err = optInt(val)
		case "password_queue":
			if val == "off" {
				a.PasswordQueue = -1 // refuse at once when every slot is busy
			} else {
				a.PasswordQueue, err = optInt(val)
			}
		case "recent_buffer":
			a.RecentBuffer, err = optInt(val)
		case "start_timeout":
			a.StartTimeout, err = optDuration(val)
		case "files_dir":
			a.FilesDir = val
		case "unattached_file_ttl":
			a.UnattachedFileTTL, err = optDuration(val)
		case "search_language":
			a.SearchLanguage = val
		default:
			return d.Errf("unrecognized chat option %q", name)
		}
		if err != nil {
			return d.Errf("chat option %s: %v", name, err)
		}
	}
	return nil
}

func optInt(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err == nil && n < 0 {
		return 0, strconv.ErrRange
	}
	return n, err
}

// isOff reports whether a limit's value turns it off: off, or -1, the
// deprecated spelling kept for old Caddyfiles.
func isOff(s string) bool { return s == "off" || s == "-1" }

// optLimit is a count that can be turned off: off (or the deprecated -1)
// is -1, anything else optInt's non-negative number.
func optLimit(s string) (int, error) {
	if isOff(s) {
		return -1, nil
	}
	return optInt(s)
}

func optDuration(s string) (caddy.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := caddy.ParseDuration(s)
	return caddy.Duration(d), err
}

func optSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := humanize.ParseBytes(s)
	return int64(n), err
}

func parseHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile reads the chat directive. Syntax:
//
//	chat [<matcher>] {
//	    max_frame          <size>
//	    max_body           <size>
//	    max_request        <size>
//	    max_file           <size>
//	    edit_window        <duration>|off
//	    max_reactions      <n>
//	    queue_frames       <n>
//	    queue_bytes        <size>
//	    send_buffer        <size>|off
//	    ping_interval      <duration>
//	    pong_timeout       <duration>
//	    write_timeout      <duration>
//	    compression        [on|off]
//	    compress_min       <size>
//	    send_rate          <per second>
//	    send_burst         <n>
//	    user_send_rate     <per second>|off
//	    origins            <origin...>
//	    stream_close_delay <duration>
//	    drain_batch        <n>
//	    drain_pause        <duration>
//	    drain_timeout      <duration>
//	    ip_conns           <n>|off
//	    ip_connect_rate    <rate> [<burst>]
//	    ip_request_rate    <rate> [<burst>]
//	    user_request_rate  <rate> [<burst>]
//	    auth_ip_rate       <rate> [<burst>]
//	    login_account_ip_rate <rate> [<burst>]
//	    login_account_rate <rate> [<burst>]
//	    max_rooms          <n>|off
//	    command_rate       <rate> [<burst>]
//	    upload_rate        <rate> [<burst>]
//	    search_rate        <rate> [<burst>]
//	    handshake_timeout  <duration>
//	    secure_cookie
//	}
//
// A <rate> is <n>/s, <n>/m, <n>/h, a bare number per second, or off. off
// turns a limit off (send_buffer off: the kernel's autotuning); -1, its
// old spelling for the counts, is still accepted but deprecated.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		name := d.Val()
		args := d.RemainingArgs()
		if name == "origins" {
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Origins = append(h.Origins, args...)
			continue
		}
		if name == "compression" {
			switch {
			case len(args) == 0 || args[0] == "on":
				h.Compression = true
			case args[0] == "off":
				h.Compression = false
			default:
				return d.Errf("compression: want on or off, got %q", args[0])
			}
			continue
		}
		if name == "secure_cookie" {
			if len(args) != 0 {
				return d.ArgErr()
			}
			h.SecureCookie = true
			continue
		}
		if r := h.rateOption(name); r != nil {
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			rate, err := limits.ParseRate(args[0])
			if err == nil && len(args) == 2 {
				rate.Burst, err = strconv.Atoi(args[1])
				if err == nil && rate.Burst < 1 {
					err = strconv.ErrRange
				}
			}
			if err != nil {
				return d.Errf("chat %s: %v", name, err)
			}
			*r = rate
			continue
		}
		if len(args) != 1 {
			return d.ArgErr()
		}
		val := args[0]
		var err error
		var n int
		var sz int64
		switch name {
		case "max_frame":
			h.MaxFrame, err = optSize(val)
		case "max_body":
			sz, err = optSize(val)
			h.MaxBody = int(sz)
		case "max_request":
			h.MaxRequest, err = optSize(val)
		case "max_file":
			h.MaxFile, err = optSize(val)
		case "queue_frames":
			h.QueueFrames, err = optInt(val)
		case "queue_bytes":
			sz, err = optSize(val)
			h.QueueBytes = int(sz)
		case "send_buffer":
			if isOff(val) {
				h.SendBuffer = -1
				break
			}
			sz, err = optSize(val)
			h.SendBuffer = int(sz)
		case "ping_interval":
			h.PingInterval, err = optDuration(val)
		case "pong_timeout":
			h.PongTimeout, err = optDuration(val)
		case "write_timeout":
			h.WriteTimeout, err = optDuration(val)
		case "edit_window":
			if isOff(val) {
				h.EditWindow = -1
			} else {
				h.EditWindow, err = optDuration(val)
			}
		case "max_reactions":
			h.MaxReactions, err = optInt(val)
		case "compress_min":
			sz, err = optSize(val)
			h.CompressMin = int(sz)
		case "send_rate":
			h.SendRate, err = strconv.ParseFloat(val, 64)
		case "send_burst":
			h.SendBurst, err = optInt(val)
		case "user_send_rate":
			h.UserSendRate, err = optLimit(val)
		case "stream_close_delay":
			h.StreamCloseDelay, err = optDuration(val)
		case "drain_batch":
			n, err = optInt(val)
			h.DrainBatch = n
		case "drain_pause":
			h.DrainPause, err = optDuration(val)
		case "drain_timeout":
			h.DrainTimeout, err = optDuration(val)
		case "ip_conns":
			h.IPConns, err = optLimit(val)
		case "max_rooms":
			h.MaxRooms, err = optLimit(val)
		case "handshake_timeout":
			h.HandshakeTimeout, err = optDuration(val)
		default:
			return d.Errf("unrecognized chat subdirective %q", name)
		}
		if err != nil {
			return d.Errf("chat %s: %v", name, err)
		}
	}
	return nil
}

// rateOption is the field a rate subdirective sets, nil for other names.
func (h *Handler) rateOption(name string) *limits.Rate {
	switch name {
	case "ip_connect_rate":
		return &h.IPConnectRate
	case "ip_request_rate":
		return &h.IPRequestRate
	case "user_request_rate":
		return &h.UserRequestRate
	case "auth_ip_rate":
		return &h.AuthIPRate
	case "login_account_ip_rate":
		return &h.LoginAccountIPRate
	case "login_account_rate":
		return &h.LoginAccountRate
	case "command_rate":
		return &h.CommandRate
	case "upload_rate":
		return &h.UploadRate
	case "search_rate":
		return &h.SearchRate
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ caddyfile.Unmarshaler = (*App)(nil)
)
