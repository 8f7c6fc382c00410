//! The control-socket protocol that whack speaks to pluto, and its server side.
