//! The only place that talks to the kernel IPsec stack: XFRM netlink SAs, policies, SPIs and acquire/expire events.
