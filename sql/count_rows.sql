-- count_rows: rows of the split being exported (for --num-shards without a label pass).
SELECT COUNT(*) AS num_rows
FROM input
