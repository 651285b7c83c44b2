-- Seed workload for the CDC-into-a-data-lake quick start. Run it before the
-- connectors start: these rows arrive through the initial snapshot (op "r").
CREATE TABLE IF NOT EXISTS customers (
    id         serial PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS orders (
    id          bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers (id),
    amount      numeric(10, 2) NOT NULL,
    status      text NOT NULL DEFAULT 'new',
    ordered_at  timestamp NOT NULL DEFAULT now()
);

-- With REPLICA IDENTITY FULL a delete carries the whole old row, so the
-- lake's delete marker rows (__deleted = 'true') have every column, not
-- just the primary key.
ALTER TABLE customers REPLICA IDENTITY FULL;
ALTER TABLE orders REPLICA IDENTITY FULL;

INSERT INTO customers (email, name)
SELECT 'customer' || g || '@example.com', 'Customer ' || g
FROM generate_series(1, 100) AS g
ON CONFLICT (email) DO NOTHING;

INSERT INTO orders (customer_id, amount, status)
SELECT 1 + (g % 100), round((10 + (g * 7) % 990)::numeric, 2), 'new'
FROM generate_series(1, 1000) AS g;
