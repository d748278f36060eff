// Test harness placeholder.
