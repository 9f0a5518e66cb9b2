-- Each recorded or merged offline record takes the next queue position, MAX(position) + 1:
-- with this index that is one index probe instead of a scan of every application's queue.
CREATE INDEX offline_events_position ON offline_events (position);
