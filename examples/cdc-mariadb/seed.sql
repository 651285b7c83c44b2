-- Seed workload for the MariaDB variant of the quick start. Run it before
-- the connectors start: these rows arrive through the initial snapshot
-- (op "r").
CREATE TABLE IF NOT EXISTS customers (
    id         INT AUTO_INCREMENT PRIMARY KEY,
    email      VARCHAR(255) NOT NULL UNIQUE,
    name       VARCHAR(255) NOT NULL,
    created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
);

CREATE TABLE IF NOT EXISTS orders (
    id          BIGINT AUTO_INCREMENT PRIMARY KEY,
    customer_id INT NOT NULL,
    amount      DECIMAL(10, 2) NOT NULL,
    status      ENUM('new', 'paid', 'shipped') NOT NULL DEFAULT 'new',
    ordered_at  DATETIME(6) NOT NULL DEFAULT NOW(6),
    FOREIGN KEY (customer_id) REFERENCES customers (id)
);

INSERT IGNORE INTO customers (email, name)
SELECT CONCAT('customer', seq, '@example.com'), CONCAT('Customer ', seq) FROM seq_1_to_100;

INSERT INTO orders (customer_id, amount, status)
SELECT 1 + (seq % 100), ROUND(10 + (seq * 7) % 990, 2), 'new' FROM seq_1_to_1000;
