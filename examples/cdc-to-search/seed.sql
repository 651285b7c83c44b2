-- Seed workload for the CDC-into-OpenSearch quick start. Run it before the
-- connectors start: these rows arrive through the initial snapshot.
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

INSERT INTO customers (email, name)
SELECT 'customer' || g || '@example.com', 'Customer ' || g
FROM generate_series(1, 100) AS g
ON CONFLICT (email) DO NOTHING;

INSERT INTO orders (customer_id, amount, status)
SELECT 1 + (g % 100), round((10 + (g * 7) % 990)::numeric, 2), 'new'
FROM generate_series(1, 1000) AS g;
