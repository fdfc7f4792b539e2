package gateway

import (
	"github.com/chatgate/chatgate/chatcore/presence"
)

// The Redis presence's heartbeat (chatcore/presence): variables only so
// tests can shorten them before New.
var (
	presenceBeat = presence.DefaultBeat
	presenceDead = presence.DefaultDeadAfter
)

// newPresence picks the presence of the core: in Redis, across instances,
// when the core has a Redis; else this instance's hub alone. instance names
// this instance's entries (the bus's id, unique per process).
func (c *Core) newPresence(instance string) (presence.Manager, error) {
	if c.cfg.Redis == nil {
		return presence.NewMemory(c.Hub), nil
	}
	return presence.NewRedis(presence.RedisConfig{Client: c.cfg.Redis, Prefix: c.cfg.RedisPrefix, Instance: instance,
		Hub: c.Hub, Bus: c.Bus, Logger: c.log, Beat: presenceBeat, DeadAfter: presenceDead})
}
