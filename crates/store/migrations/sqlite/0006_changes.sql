-- Change notices between instances exist on PostgreSQL only (triggers that NOTIFY). On SQLite the
-- server owns the file; the CLI tells it of its changes through the data folder's control socket.
SELECT 1;
