-- read_label_map: the id → label map recorded in an existing label table.
SELECT id, label
FROM label_table
ORDER BY id
