-- The key that signs contact file links (`show_file.php?...&token=`), so that their ids cannot be
-- walked. Empty until `ensure_portal` fills it; kept here so every instance signs alike.
ALTER TABLE portal ADD COLUMN file_secret TEXT NOT NULL DEFAULT '';
