//! Contract scenarios, fixtures and the raw HTTP client that plays them.
