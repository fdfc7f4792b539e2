package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("chat_cache", parseCacheHandler)
	// After encode: encode wraps the cache, so stored bodies are identity
	// and every response is compressed for its own client (Souin #595
	// replayed gzip to clients that never asked for it).
	httpcaddyfile.RegisterDirectiveOrder("chat_cache", httpcaddyfile.After, "encode")
}

func parseCacheHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	c := new(CacheHandler)
	err := c.UnmarshalCaddyfile(h.Dispenser)
	return c, err
}

// UnmarshalCaddyfile reads the chat_cache directive. Syntax:
//
//	chat_cache [<matcher>] [<ttl>] {
//	    ttl          <duration>
//	    vary_query   <param...>
//	    ignore_query
//	    vary_header  <field...>
//	    private
//	    shared_by_members <room>
//	    compose      room_list | room | messages
//	    tags         <tag...>
//	    max_size     <size>
//	    storage      redis [<url>] | memory [<max size>]
//	    prefix       <redis key prefix>
//	    timeout      <duration>
//	    name         <route name for metrics>
//	}
func (h *CacheHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		ttl, err := optDuration(d.Val())
		if err != nil {
			return d.Errf("chat_cache ttl: %v", err)
		}
		h.TTL = ttl
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		name := d.Val()
		args := d.RemainingArgs()
		var err error
		switch name {
		case "private":
			h.Private = true
		case "ignore_query":
			h.IgnoreQuery = true
		case "vary_query", "vary_header", "tags":
			if len(args) == 0 {
				return d.ArgErr()
			}
			switch name {
			case "vary_query":
				h.VaryQuery = append(h.VaryQuery, args...)
			case "vary_header":
				h.VaryHeader = append(h.VaryHeader, args...)
			default:
				h.Tags = append(h.Tags, args...)
			}
			continue
		case "storage":
			if len(args) == 0 || len(args) > 2 {
				return d.ArgErr()
			}
			h.Storage = args[0]
			if len(args) == 2 {
				switch h.Storage {
				case "redis":
					h.Redis = args[1]
				case "memory":
					h.MemoryMax, err = optSize(args[1])
				default:
					return d.Errf("chat_cache storage: want redis or memory, got %q", h.Storage)
				}
			}
		case "ttl", "max_size", "prefix", "timeout", "name", "shared_by_members", "compose":
			if len(args) != 1 {
				return d.ArgErr()
			}
			switch name {
			case "ttl":
				h.TTL, err = optDuration(args[0])
			case "max_size":
				h.MaxSize, err = optSize(args[0])
			case "timeout":
				h.Timeout, err = optDuration(args[0])
			case "prefix":
				h.Prefix = args[0]
			case "name":
				h.Name = args[0]
			case "shared_by_members":
				h.SharedByMembers = args[0]
			case "compose":
				h.Compose = args[0]
			}
		default:
			return d.Errf("unrecognized chat_cache subdirective %q", name)
		}
		if (name == "private" || name == "ignore_query") && len(args) > 0 {
			return d.ArgErr()
		}
		if err != nil {
			return d.Errf("chat_cache %s: %v", name, err)
		}
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*CacheHandler)(nil)
