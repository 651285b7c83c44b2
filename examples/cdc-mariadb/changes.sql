-- Changes applied while the connectors run: they arrive through the binlog
-- (op "c", "u" and "d").
INSERT INTO customers (email, name) VALUES ('late@example.com', 'Late Customer');
INSERT INTO orders (customer_id, amount, status) SELECT id, 42.50, 'new' FROM customers WHERE email = 'late@example.com';
UPDATE orders SET status = 'shipped' WHERE id <= 10;
UPDATE orders SET amount = amount + 0.99, status = 'paid' WHERE id BETWEEN 11 AND 15;
UPDATE customers SET name = 'Renamed Customer' WHERE id = 1;
DELETE FROM orders WHERE id BETWEEN 991 AND 1000;
