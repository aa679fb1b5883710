-- Events are handed to the sinks in the transaction that writes them
-- (fanned_out = 1 from the start); only events written before a dispatcher
-- gave the store its routes wait to be handed over. The index holds just
-- those: an index of every event cost an entry per event, and rows marked
-- one by one left dead entries that every round read past.
DROP INDEX outbox_fan_out;
CREATE INDEX outbox_unfanned ON outbox (id) WHERE fanned_out = 0;
